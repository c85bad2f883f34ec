"""Configuration errors raise at construction, with messages that name the argument and the fix."""

from __future__ import annotations

import pytest

from vigil.agent import MonitoringAgent
from vigil.errors import InvalidInput


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_classes": 1}, "n_classes of MonitoringAgent must be an int >= 2"),
    ({"n_classes": None}, "n_classes of MonitoringAgent must be an int >= 2"),
    ({"n_classes": 2.0}, "n_classes of MonitoringAgent must be an int >= 2"),
    ({"n_classes": True}, "n_classes of MonitoringAgent must be an int >= 2"),
    ({"frequency": 0}, "frequency of MonitoringAgent must be a finite number > 0"),
    ({"frequency": float("nan")}, "frequency of MonitoringAgent must be a finite number > 0"),
    ({"frequency": "5"}, "frequency of MonitoringAgent must be a finite number > 0"),
    ({"frequency": 1e-6}, "a period of at least 10 ms"),
    ({"max_buffer_size": 0}, "max_buffer_size of MonitoringAgent must be an int in [1, 10000000]"),
    ({"max_buffer_size": 10.5}, "max_buffer_size of MonitoringAgent must be an int"),
    ({"agent_id": 1}, "agent_id of MonitoringAgent must be a str of 1-64 characters"),
    ({"agent_id": "a/b"}, "agent_id of MonitoringAgent must be a str"),
    ({"agent_id": ".."}, "not only dots"),
    ({"agent_id": ""}, "agent_id of MonitoringAgent"),
    ({"server_port": 0}, "server_port of MonitoringAgent must be an int in [1, 65535]"),
    ({"server_port": "8000"}, "server_port of MonitoringAgent must be an int"),
    ({"server_IP": "http://x"}, "server_IP of MonitoringAgent must be a host name or IP address"),
    ({"server_IP": None, "sink": "http"}, "server_IP of MonitoringAgent must be a host name"),
    ({"sink": "kafka"}, "sink of MonitoringAgent must be 'http', 'store', a callable"),
    ({"n_classes": 3, "threshold": 0.3}, "threshold of MonitoringAgent must be None when n_classes > 2"),
    ({"threshold": 1.5}, "threshold of MonitoringAgent must be a finite number >= 0.0 and <= 1.0"),
    ({"token": ""}, "token of MonitoringAgent must be a non-empty str"),
    ({"feature_names": "abc"}, "feature_names of MonitoringAgent must be a list of distinct"),
    ({"feature_names": ["a", "a"]}, "feature_names of MonitoringAgent must be a list of distinct"),
    ({"categorical_features": "a"}, "categorical_features of MonitoringAgent must be a list"),
    ({"feature_names": ["a"], "categorical_features": ["b"]}, "must be one of feature_names ['a']"),
    ({"feature_names": ["a"], "categorical_features": [3]}, "a position < 1"),
    ({"categorical_features": [-1]}, "categorical_features of MonitoringAgent must be a list"),
    ({"max_categories": 0}, "max_categories of MonitoringAgent must be an int in [1, 100000]"),
    ({"spool_max_files": 0}, "spool_max_files of MonitoringAgent must be an int >= 1"),
    ({"spool_max_bytes": -5}, "spool_max_bytes of MonitoringAgent must be an int >= 1"),
    ({"spool_dir": 5}, "spool_dir of MonitoringAgent must be a folder path"),
    ({"max_queue_rows": 0}, "max_queue_rows of MonitoringAgent must be an int >= 1"),
    ({"timeout_s": 0}, "timeout_s of MonitoringAgent must be a finite number > 0"),
    ({"backoff_max_s": -1}, "backoff_max_s of MonitoringAgent must be a finite number > 0"),
    ({"proba_tolerance": 2}, "proba_tolerance of MonitoringAgent must be a finite number >= 0.0 and <= 1.0"),
    ({"seed": -1}, "seed of MonitoringAgent must be an int >= 0"),
    ({"clock": 5}, "clock of MonitoringAgent must be a callable"),
    ({"log_interval_s": -1}, "log_interval_s of MonitoringAgent must be a finite number >= 0.0"),
])
def test_bad_configuration_raises_invalid_input(kwargs, message):
    kwargs = {"n_classes": 2, **kwargs}
    with pytest.raises(InvalidInput) as info:
        MonitoringAgent(**kwargs)
    assert message in str(info.value)
    assert "; got " in str(info.value)


def test_the_issue_example_constructs_and_starts_nothing():
    agent = MonitoringAgent(frequency=5, max_buffer_size=500, n_classes=10, agent_id="1",
                            server_IP="127.0.0.1", server_port=8000)
    assert agent.options.period_ms == 300_000
    assert agent._processor is None and agent._shipper is None   # no thread before first use
    assert not agent.spool_dir.exists()                          # no file either
    assert "agent_id='1'" in repr(agent)


def test_the_token_message_does_not_echo_the_token():
    with pytest.raises(InvalidInput) as info:
        MonitoringAgent(n_classes=2, token="secret\nvalue")
    assert "secret" not in str(info.value)


def test_defaults_and_modes(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_TOKEN", "from-env")
    agent = MonitoringAgent(n_classes=2)
    assert agent.options.sink == "http" and agent.options.token == "from-env"
    assert agent.options.threshold == 0.5
    assert agent.spool_dir.name == "agent-1" and agent.spool_dir.parent.name == "spool"
    assert MonitoringAgent(n_classes=2, server_IP=None).options.sink == "store"
    assert MonitoringAgent(n_classes=2, sink="store").options.sink == "store"
    assert MonitoringAgent(n_classes=3).options.threshold is None
    assert MonitoringAgent(n_classes=2, frequency=0.5).options.period_ms == 30_000
    assert MonitoringAgent(n_classes=2, spool_dir=tmp_path).spool_dir == tmp_path
