# The two commands: `make demo` and `make test`. Both create .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vigil demo

test: $(STAMP)
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

lint: $(STAMP)
	$(BIN)/ruff check vigil tests bench
	$(BIN)/mypy vigil

clean:
	rm -rf $(VENV) .venv-bench .venv-peers build *.egg-info
