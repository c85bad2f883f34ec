"""Anodot export against a local receiver: metrics 2.0 body, batch size, pacing, retries."""

from __future__ import annotations

import json

import pytest

from tests.server.factory import Recorder
from vigil.cli import main
from vigil.errors import InvalidInput, TransportError
from vigil.export.anodot import AnodotSender, metrics_url, to_sample
from vigil.export.jsonl import RotatingJsonlWriter


def records(n: int) -> list[dict]:
    return [{"t": 1_795_418_700.0 + i, "agent_id": "canary.1", "metric": "pred1", "stat": "mean", "class": None,
             "feature": None, "category": None, "value": i / n} for i in range(n)]


def test_sample_format():
    s = to_sample({"t": 10.9, "agent_id": "a b", "metric": "feature", "stat": "q25", "class": "3",
                   "feature": "x=1", "category": "k.v", "value": 2})
    assert s == {"properties": {"what": "feature", "agent": "a_b", "stat": "q25", "class": "3", "feature": "x_1",
                                "category": "k_v", "target_type": "gauge"},
                 "timestamp": 10, "value": 2.0, "tags": {}}
    assert to_sample({"t": 1.0, "agent_id": "a", "metric": "m", "value": float("nan")}) is None
    assert metrics_url("T") == "https://api.anodot.com/api/v1/metrics?token=T&protocol=anodot20"


def test_batches_of_at_most_1000_paced_at_2000_points_per_s():
    with Recorder() as rx:
        report = AnodotSender("tok", rx.url).send(records(3500))
    sizes = [len(rx.json(i)) for i in range(len(rx.requests))]
    assert sizes == [1000, 1000, 1000, 500] and report.sent == 3500 and report.batches == 4
    assert all(r["path"].endswith("token=tok&protocol=anodot20") or "token=tok" in r["path"] for r in rx.requests)
    # the receiver's clock: points after the first batch over the time they took
    times = [r["t"] for r in rx.requests]
    span = times[-1] - times[0]
    rate = sum(sizes[1:]) / span
    assert rate <= 2000 * 1.10, f"{rate:.0f} points/s over {span:.2f}s"   # the limit, 10% tolerance
    assert rate >= 2000 * 0.5                                              # and not needlessly slow
    body = rx.json(0)[0]
    assert body["properties"]["what"] == "pred1" and body["properties"]["agent"] == "canary_1"


def test_a_slower_rate_is_honoured_too():
    with Recorder() as rx:
        AnodotSender("tok", rx.url, batch_size=100, rate_per_s=1000).send(records(450))
    sizes = [len(rx.json(i)) for i in range(len(rx.requests))]
    assert sizes == [100, 100, 100, 100, 50]
    times = [r["t"] for r in rx.requests]
    assert sum(sizes[1:]) / (times[-1] - times[0]) <= 1000 * 1.10


def test_5xx_is_retried_4xx_stops():
    with Recorder(fail_first=2, fail_status=503) as rx:
        report = AnodotSender("tok", rx.url, backoff_s=0.01).send(records(10))
    assert report.retries == 2 and report.sent == 10 and len(rx.requests) == 3
    assert rx.requests[0]["body"] == rx.requests[2]["body"]
    with Recorder(fail_first=10, fail_status=400) as rx:
        with pytest.raises(TransportError, match="HTTP 400") as info:
            AnodotSender("s3cr3t", rx.url, backoff_s=0.01).send(records(10))
    assert len(rx.requests) == 1 and "s3cr3t" not in str(info.value)


def test_limits_are_enforced():
    with pytest.raises(InvalidInput, match="batch_size"):
        AnodotSender("t", batch_size=1001)
    with pytest.raises(InvalidInput, match="rate_per_s"):
        AnodotSender("t", rate_per_s=5000)


def test_cli_reads_the_collector_export(tmp_path, capsys):
    writer = RotatingJsonlWriter(tmp_path)
    writer.write(records(1200) + [{"t": 1.0, "agent_id": "a", "metric": "m", "value": None}])
    writer.close()
    with Recorder(answer=json.dumps({"errors": [{"index": 3}]}).encode()) as rx:
        code = main(["export", "anodot", "--input", str(writer.files()[0]), "--token", "T0K", "--url", rx.url])
    assert code == 0
    assert [len(rx.json(i)) for i in range(len(rx.requests))] == [1000, 200]
    out = capsys.readouterr().out
    assert "sent 1200 points in 2 batches; skipped 1" in out and "2 reported as errors" in out
    assert main(["export", "anodot", "--input", str(tmp_path / "none.jsonl"), "--token", "T"]) == 1
