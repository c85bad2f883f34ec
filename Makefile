# The two commands: `make demo` and `make test`. Both create .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean chromium audit soak

# the dashboard's browser tests drive Debian's chromium (Playwright never downloads a browser here)
CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT      := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# apt-get update only when the install fails (a fresh image with empty lists); no apt-get: say so, go on
$(CHROMIUM):
	@if ! command -v apt-get >/dev/null; then \
	  echo "no apt-get: install chromium at $(CHROMIUM) yourself (the browser tests skip without it, fail under CI=true)"; \
	else \
	  echo "installing chromium (apt-get) for the browser tests"; \
	  $(APT) install -y -q chromium >/dev/null || { $(APT) update -q >/dev/null && $(APT) install -y -q chromium >/dev/null; }; \
	fi

chromium: $(CHROMIUM)

demo: $(STAMP)
	$(BIN)/vigil demo

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q

BENCH_VENV  ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS  ?=

$(BENCH_STAMP): pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

# the drift peers (Evidently, NannyML, whylogs) need pandas < 3: their own environment, vigil installed in it too
PEERS_VENV  ?= .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
DRIFT_ARGS  ?= $(filter --quick,$(BENCH_ARGS))

$(PEERS_STAMP): pyproject.toml bench/peers/requirements.txt
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -r bench/peers/requirements.txt -e ".[drift]"
	touch $(PEERS_STAMP)

# vigil beside MLflow (tracking) and beside Evidently, NannyML and whylogs (drift)
bench: $(BENCH_STAMP) $(PEERS_STAMP)
	$(BENCH_VENV)/bin/python bench/tracking.py $(BENCH_ARGS)
	$(PEERS_VENV)/bin/python bench/drift.py $(DRIFT_ARGS)

# the long fault tests: the collector under 32 agents for VIGIL_SOAK_S seconds (default 600)
soak: $(STAMP)
	VIGIL_SOAK=1 $(BIN)/python -m pytest -q -m soak tests/reliability

# known vulnerabilities of the installed dependencies (needs PyPI's vulnerability API);
# --strict: a package that could not be audited is a failure, not a silent pass
audit: $(STAMP)
	$(BIN)/pip-audit --strict --progress-spinner off --skip-editable

lint: $(STAMP)
	$(BIN)/ruff check vigil tests bench
	$(BIN)/mypy vigil

clean:
	rm -rf $(VENV) .venv-bench .venv-peers build *.egg-info
