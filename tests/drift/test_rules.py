"""Drift alert rules: validation, what fires for a result, delivery from
``capture`` to a real local webhook receiver, and cooldowns that persist in the
monitor's experiment (across monitor objects)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below
from vigil.drift import DataDriftMonitor, compare
from vigil.drift.alerts import WebhookChannel
from vigil.drift.rules import DriftRule, evaluate_rules
from vigil.errors import InvalidInput
from vigil.profile import profile


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    return vigil_home


class Receiver:
    """A real HTTP server on 127.0.0.1 (port 0) in a thread, keeping every JSON body POSTed."""

    def __init__(self) -> None:
        self.bodies: list = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/drift?token=s3cret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def frames(shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(size=3000), "c": rng.choice(["p", "q"], 3000)})
    b = pd.DataFrame({"x": rng.normal(shift, 1, 3000), "y": rng.normal(size=3000), "c": rng.choice(["p", "q"], 3000)})
    return a, b


@pytest.fixture
def drifted():
    a, b = frames(1.0)
    base = profile(a)
    return compare(base, profile(b, base.schema))


def test_rule_validation():
    assert DriftRule().name == "drift" and DriftRule(statistic="psi", threshold=0.2).name == "drift.psi"
    for kwargs, match in (({"op": "=>"}, "op"), ({"severity": "fatal"}, "severity"),
                          ({"statistic": "psi"}, "threshold"), ({"cooldown_s": -1}, "cooldown_s"),
                          ({"cooldown_s": True}, "cooldown_s")):
        with pytest.raises(InvalidInput, match=match):
            DriftRule(**kwargs)
    assert DriftRule.coerce("drift") == DriftRule()
    assert DriftRule.coerce({"statistic": "js", "threshold": 0.1}).statistic == "js"
    with pytest.raises(InvalidInput, match="unknown"):
        DriftRule.coerce({"statistc": "js"})
    with pytest.raises(InvalidInput):
        DriftRule.coerce(42)


def test_what_fires(drifted):
    assert [a.name for a in DriftRule().evaluate(drifted, "m")] == ["drift"]
    assert [a.labels for a in DriftRule(columns=("x", "y")).evaluate(drifted, "m")] == [{"monitor": "m", "column": "x"}]
    psi = DriftRule(statistic="psi", threshold=0.1).evaluate(drifted, "m")
    assert [a.labels["column"] for a in psi] == ["x"] and psi[0].details["value"] >= 0.1
    low_p = DriftRule(statistic="p_adjusted", op="<=", threshold=0.05, tests=("distribution",)).evaluate(drifted, "m")
    assert [a.labels["column"] for a in low_p] == ["x"]
    assert DriftRule(statistic="no_such_column", threshold=1).evaluate(drifted, "m") == []
    a, b = frames(0.0)
    base = profile(a)
    quiet = compare(base, profile(b, base.schema))
    assert DriftRule().evaluate(quiet, "m") == []
    assert evaluate_rules(None, quiet) == []


def test_capture_delivers_alerts_to_a_webhook(receiver):
    a, b = frames(1.0)
    mon = DataDriftMonitor("hooked")
    mon.snapshot(a)
    mon.snapshot(b)
    rules = [DriftRule(channels=[WebhookChannel(receiver.url, retries=0)], severity="critical")]
    result = mon.capture(alerts=rules)
    assert result.drift and len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["name"] == "drift" and body["severity"] == "critical" and body["source"] == "hooked"
    assert body["details"]["drifted_columns"] == ["x"] and body["labels"] == {"monitor": "hooked"}
    [event] = mon.experiment.data(run="all", event="alert", raw=True)
    delivery = event["value"]["deliveries"][0]
    assert delivery["status"] == "delivered" and "s3cret" not in json.dumps(event["value"])


def test_cooldown_holds_back_a_second_capture_across_monitor_objects(receiver):
    a, b = frames(1.0)
    first = DataDriftMonitor("cooled")
    first.snapshot(a)
    first.snapshot(b)
    spec = {"channels": [receiver.url], "cooldown_s": 3600}
    first.capture(alerts=[spec])
    assert len(receiver.bodies) == 1
    second = DataDriftMonitor("cooled")  # another object (another process, a scheduled job) on the same experiment
    again = second.capture(alerts=[spec])
    assert again.drift and again.alerts == [] and len(receiver.bodies) == 1
    assert len(second.experiment.data(run="all", event="alert", raw=True)) == 1
    # another rule (another name) is not cooled by the first, nor is a rule without cooldown
    second.capture(alerts=[{"channels": [receiver.url], "cooldown_s": 3600, "name": "drift-page"}, "drift"])
    assert len(receiver.bodies) == 2
    assert len(second.experiment.data(run="all", event="alert", raw=True)) == 3


def test_a_failed_delivery_does_not_start_a_cooldown(receiver):
    a, b = frames(1.0)
    mon = DataDriftMonitor("unreachable")
    mon.snapshot(a)
    mon.snapshot(b)
    dead = WebhookChannel("http://127.0.0.1:9/nothing-listens", retries=0, timeout_s=2)
    mon.capture(alerts=[{"channels": [dead], "cooldown_s": 3600}])
    [failed] = mon.experiment.data(run="all", event="alert", raw=True)
    assert failed["value"]["deliveries"][0]["status"] == "failed"
    mon.capture(alerts=[{"channels": [receiver.url], "cooldown_s": 3600}])
    assert len(receiver.bodies) == 1
