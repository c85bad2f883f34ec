"""Alert channels against real local receivers: an HTTP server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import logging
import time

import pytest

import vigil as om
from tests.fixtures import vigil_home  # noqa: F401 - fixture
from tests.server.factory import Recorder, free_port
from vigil.drift.alerts import (
    Alert,
    Cooldown,
    EmailChannel,
    LogChannel,
    Notifier,
    WebhookChannel,
    channel_from_spec,
    channels_from_specs,
    deliver,
)
from vigil.errors import InvalidInput

ALERT = Alert("metric_anomaly", "critical", "pred1 fell to 0.2", details={"value": 0.2, "z": float("inf")},
              source="agents/1", labels={"agent": "1", "metric": "pred1"}, fired_at=1_795_418_700.0)


def test_webhook_json_body_and_headers():
    with Recorder() as rx:
        [d] = deliver(ALERT, [WebhookChannel(rx.url, headers={"Authorization": "Bearer xyz"})])
    assert d.ok and d.attempts == 1 and d.channel == "webhook"
    body = rx.json(0)
    assert body["name"] == "metric_anomaly" and body["labels"] == {"agent": "1", "metric": "pred1"}
    assert body["details"] == {"value": 0.2, "z": None}  # valid JSON: inf becomes null
    assert rx.requests[0]["headers"]["Authorization"] == "Bearer xyz"
    assert "xyz" not in d.target and "/hook" not in d.target


def test_alertmanager_and_slack_formats():
    with Recorder() as rx:
        deliver(ALERT, [f"alertmanager+{rx.url}", {"slack": rx.url}])
    [am] = rx.json(0)
    assert am["labels"] == {"alertname": "metric_anomaly", "severity": "critical", "agent": "1", "metric": "pred1"}
    assert am["annotations"]["summary"] == "pred1 fell to 0.2"
    assert am["startsAt"].startswith("2026-11-23T") and am["startsAt"].endswith("Z")
    assert rx.json(1)["text"].startswith(":red_circle: *[critical] metric_anomaly* pred1 fell to 0.2")


def test_retries_with_backoff_until_the_receiver_recovers():
    with Recorder(fail_first=2, fail_status=503) as rx:
        started = time.monotonic()
        [d] = deliver(ALERT, [WebhookChannel(rx.url, retries=3, backoff_s=0.05)])
    assert d.ok and d.attempts == 3 and len(rx.requests) == 3
    gaps = [rx.requests[i + 1]["t"] - rx.requests[i]["t"] for i in range(2)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09  # 0.05 s then 0.1 s
    assert time.monotonic() - started < 5


def test_gives_up_after_retries_and_does_not_retry_a_4xx():
    with Recorder(fail_first=100, fail_status=500) as rx:
        [d] = deliver(ALERT, [WebhookChannel(rx.url, retries=2, backoff_s=0.01)])
    assert (d.status, d.attempts, len(rx.requests)) == ("failed", 3, 3) and "HTTP 500" in d.error
    with Recorder(fail_first=100, fail_status=404) as rx:
        [d] = deliver(ALERT, [WebhookChannel(rx.url, retries=5, backoff_s=0.01)])
    assert (d.status, d.attempts, len(rx.requests)) == ("failed", 1, 1) and "HTTP 404" in d.error


def test_unreachable_receiver_fails_cleanly():
    port = free_port()  # nothing listens there
    [d] = deliver(ALERT, [WebhookChannel(f"http://127.0.0.1:{port}/x?key=secret", retries=1, backoff_s=0.01,
                                         timeout_s=2)])
    assert d.status == "failed" and d.attempts == 2 and "secret" not in d.error


def test_outcomes_are_logged_in_the_experiment(vigil_home, caplog):  # noqa: F811
    exp = om.runtime.experiment("agents/1")
    with Recorder(fail_first=100, fail_status=502) as bad, Recorder() as good, caplog.at_level(logging.INFO):
        deliver(ALERT, ["log", WebhookChannel(bad.url, retries=1, backoff_s=0.01), good.url], experiment=exp)
    [event] = exp.data(run="all", event="alert", raw=True)
    assert event["key"] == "metric_anomaly"
    outcomes = [(d["channel"], d["status"], d["attempts"]) for d in event["value"]["deliveries"]]
    assert outcomes == [("log", "delivered", 1), ("webhook", "failed", 2), ("webhook", "delivered", 1)]
    assert event["value"]["summary"] == "pred1 fell to 0.2"
    assert "ALERT [critical] metric_anomaly: pred1 fell to 0.2" in caplog.text
    assert "NOT delivered" in caplog.text and "/hook" not in caplog.text


def test_cooldown_per_name_and_labels():
    clock = [0.0]
    cooldown = Cooldown(60, clock=lambda: clock[0])
    with Recorder() as rx:
        first = deliver(ALERT, [rx.url], cooldown=cooldown)
        again = deliver(ALERT, [rx.url], cooldown=cooldown)
        other = deliver(Alert("metric_anomaly", labels={"agent": "2", "metric": "pred1"}), [rx.url], cooldown=cooldown)
        clock[0] = 61.0
        later = deliver(ALERT, [rx.url], cooldown=cooldown)
    assert [len(first), len(again), len(other), len(later)] == [1, 0, 1, 1]
    assert len(rx.requests) == 3 and cooldown.suppressed == 1


def test_a_failed_alert_is_not_held_back_by_the_cooldown():
    cooldown = Cooldown(3600)
    with Recorder(fail_first=1, fail_status=400) as rx:
        assert deliver(ALERT, [rx.url], cooldown=cooldown)[0].status == "failed"
        assert deliver(ALERT, [rx.url], cooldown=cooldown)[0].status == "delivered"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    from aiosmtpd.smtp import AuthResult

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"vigil" and auth_data.password == b"pw"
        return AuthResult(success=ok, handled=False)

    inbox = _Inbox()
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate,
                                     auth_require_tls=False)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def test_email_is_delivered(smtp):
    port, inbox = smtp
    [d] = deliver(ALERT, [{"email": {"host": "127.0.0.1", "port": port, "sender": "vigil@example.org",
                                     "to": ["ops@example.org", "ml@example.org"]}}])
    assert d.ok
    [envelope] = inbox.messages
    assert envelope.mail_from == "vigil@example.org"
    assert envelope.rcpt_tos == ["ops@example.org", "ml@example.org"]
    text = envelope.content.decode()
    assert "Subject: [vigil] critical: metric_anomaly - pred1 fell to 0.2" in text and "agents/1" in text


def test_email_login_and_refused_login(smtp):
    port, inbox = smtp
    good = channel_from_spec(f"smtp://vigil:pw@127.0.0.1:{port}?from=v@example.org&to=ops@example.org")
    assert deliver(ALERT, [good])[0].ok and len(inbox.messages) == 1
    bad = EmailChannel("127.0.0.1", port, sender="v@example.org", to="ops@example.org", username="vigil",
                       password="wrong", retries=3, backoff_s=0.01)
    [d] = deliver(ALERT, [bad])
    assert (d.status, d.attempts) == ("failed", 1) and "Authentication" in d.error and "wrong" not in d.error
    assert "wrong" not in repr(bad)


def test_specs_and_notifier():
    kinds = [c.kind for c in channels_from_specs(["log", "https://example.org/h", {"email": {
        "host": "mail", "to": "a@example.org"}}])]
    assert kinds == ["log", "webhook", "email"]
    assert isinstance(channel_from_spec({"log": {"level": "info"}}), LogChannel)
    with pytest.raises(InvalidInput, match="channel_from_spec: spec"):
        channel_from_spec({"pager": "x"})
    with pytest.raises(InvalidInput, match="format"):
        WebhookChannel("https://example.org", format="teams")
    with pytest.raises(InvalidInput, match="severity"):
        Alert("x", "fatal")
    with Recorder() as rx:
        notifier = Notifier([rx.url], cooldown_s=3600)
        assert len(notifier.notify(ALERT)) == 1 and notifier.notify(ALERT) == []
    assert len(rx.requests) == 1
