"""Alerts and the channels that deliver them: log, webhook (JSON, Slack, Alertmanager), e-mail.

An :class:`Alert` is a plain record; a channel sends one. :func:`deliver`
tries every channel with retries and exponential backoff, logs each outcome
and, given an experiment, records the alert and its deliveries as an
``alert`` event there. :class:`Cooldown` keeps the same alert (same name and
labels) from being sent again within ``cooldown_s``; :class:`Notifier` bundles
channels and a cooldown for job code::

    notifier = Notifier(['log', {'webhook': 'https://hooks.example/x'}], cooldown_s=600)
    notifier.notify(Alert('drift', 'warning', 'feature f0 drifted'), experiment=exp)

Channel specs (:func:`channel_from_spec`) are strings or one-key dicts:

=======================================  ==============================================
spec                                     channel
=======================================  ==============================================
``'log'``                                :class:`LogChannel` (logger ``vigil.alerts``)
``'https://host/path'``                  :class:`WebhookChannel`, JSON body
``'slack+https://hooks.slack.com/...'``  webhook, Slack incoming-webhook body
``'alertmanager+http://am:9093/...'``    webhook, Alertmanager API v2 body
``'smtp://user:pw@host:587?from=a@x&to=b@y&starttls=1'``  :class:`EmailChannel` (``smtps://``: TLS)
``{'webhook': url or {...}}``            webhook; also ``slack``, ``alertmanager`` keys
``{'email': {'host': ..., 'to': ...}}``  e-mail, keyword arguments of EmailChannel
``{'log': {'logger': ..., 'level': ...}}``  log
=======================================  ==============================================

Only the standard library is used (urllib, smtplib), so job code can send
alerts without the server extra. Secrets (URL paths and queries, headers,
passwords) are never logged: targets are described by scheme and host only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import smtplib
import ssl as ssl_module
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

from vigil.errors import InvalidInput, TransportError, describe, invalid

log = logging.getLogger("vigil.alerts")

SEVERITIES = ("info", "warning", "critical")
_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Alert:
    """Something a person should look at.

    Parameters
    ----------
    name : str
        What fired (a rule or detector name, ``metric_anomaly``).
    severity : str
        ``info``, ``warning`` or ``critical``.
    summary : str
        One human sentence.
    details : dict
        JSON-able facts (values, thresholds, window ids).
    source : str
        Where it comes from (``agents/1``, ``monitors/housing``).
    labels : dict of str to str
        Identity of the alerted thing; the cooldown key is ``(name, labels)``.
    fired_at : float
        Epoch seconds; default now.

    Examples
    --------
    >>> a = Alert('metric_anomaly', 'warning', 'pred1 fell', labels={'agent': '1'})
    >>> a.key
    ('metric_anomaly', (('agent', '1'),))
    >>> Alert('x', 'fatal')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: Alert: severity must be one of info, warning, critical; got 'fatal' (str)
    """

    name: str
    severity: str = "warning"
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    source: str = "vigil"
    labels: dict[str, str] = field(default_factory=dict)
    fired_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or len(self.name) > 200:
            raise invalid("Alert", "name", self.name, "a non-empty str of at most 200 characters")
        if self.severity not in SEVERITIES:
            raise invalid("Alert", "severity", self.severity, f"one of {', '.join(SEVERITIES)}")
        if not isinstance(self.summary, str):
            raise invalid("Alert", "summary", self.summary, "a str")
        if not isinstance(self.details, Mapping):
            raise invalid("Alert", "details", self.details, "a dict of JSON-able values")
        if not isinstance(self.labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items()
        ):
            raise invalid("Alert", "labels", self.labels, "a dict of str to str")
        if isinstance(self.fired_at, bool) or not isinstance(self.fired_at, (int, float)):
            raise invalid("Alert", "fired_at", self.fired_at, "epoch seconds (a number)")

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The identity of the alert for cooldowns: name and sorted labels."""
        return self.name, tuple(sorted(self.labels.items()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite numbers in details become None)."""
        data = asdict(self)
        data["details"] = jsonable(data["details"])
        return data


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one alert through one channel."""

    channel: str
    target: str
    status: str  # 'delivered' or 'failed'
    attempts: int
    error: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "delivered"


@runtime_checkable
class Channel(Protocol):
    """What :func:`deliver` needs of a channel.

    ``send`` raises :class:`~vigil.errors.TransportError` when the alert did not
    get through; an error whose ``retryable`` attribute is False (a 4xx answer,
    a refused recipient) is not retried.
    """

    kind: str
    retries: int
    backoff_s: float

    def send(self, alert: Alert) -> None: ...
    def describe(self) -> str: ...


class _Permanent(TransportError):
    """A failure that another attempt cannot fix (bad request, refused recipient)."""

    retryable = False


def jsonable(value: Any) -> Any:
    """A JSON-able copy: non-finite floats become None, numpy scalars numbers, datetimes epoch seconds,
    anything else unknown its ``str``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({'a': np.float32(1.5), 'b': [float('nan'), (1, 'x')], 3: np.int64(2)})
    {'a': 1.5, 'b': [None, [1, 'x']], '3': 2}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "timestamp") and callable(value.timestamp):  # datetime, pandas Timestamp
        return float(value.timestamp())
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return str(value)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def redact_url(url: str) -> str:
    """Scheme, host and port of a URL: paths, queries and credentials may hold secrets.

    Examples
    --------
    >>> redact_url('https://user:pw@hooks.slack.com/services/T0/B0/secret?token=x')
    'https://hooks.slack.com/...'
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


# -- channels ---------------------------------------------------------------------------
class LogChannel:
    """Write the alert to a Python logger (level by severity). Never fails.

    Examples
    --------
    >>> LogChannel().describe()
    'logger vigil.alerts'
    """

    kind = "log"

    def __init__(self, logger: str = "vigil.alerts", level: str | None = None) -> None:
        if level is not None and level not in _LOG_LEVELS:
            raise invalid("LogChannel", "level", level, f"one of {', '.join(_LOG_LEVELS)} or None")
        self.logger = logger
        self.level = level
        self.retries = 0
        self.backoff_s = 0.0

    def send(self, alert: Alert) -> None:
        labels = " ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        logging.getLogger(self.logger).log(
            _LOG_LEVELS[self.level or alert.severity], "ALERT [%s] %s: %s (%s) %s",
            alert.severity, alert.name, alert.summary, alert.source, labels,
        )

    def describe(self) -> str:
        return f"logger {self.logger}"


_WEBHOOK_FORMATS = ("json", "slack", "alertmanager")


class WebhookChannel:
    """POST the alert as JSON to a URL.

    Parameters
    ----------
    url : str
        http(s) URL.
    format : str
        ``json`` (:meth:`Alert.to_dict`), ``slack`` (``{"text": ...}`` for an
        incoming webhook) or ``alertmanager`` (a one-alert list for
        ``POST /api/v2/alerts`` of Prometheus Alertmanager).
    timeout_s, retries, backoff_s : float, int, float
        Per attempt; attempts = 1 + retries; waits double from ``backoff_s``.
    headers : dict, optional
        Extra headers (``Authorization`` ...); never logged.

    Examples
    --------
    >>> ch = WebhookChannel('https://hooks.example/abc?key=s3cret', format='slack')
    >>> ch.describe()
    'webhook(slack) https://hooks.example/...'
    >>> ch.payload(Alert('x', 'critical', 'boom'))['text']
    ':red_circle: *[critical] x* boom'
    """

    kind = "webhook"

    def __init__(self, url: str, format: str = "json", timeout_s: float = 10.0, retries: int = 3,
                 backoff_s: float = 0.5, headers: Mapping[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"WebhookChannel: url must be an http(s) URL with a host; got "
                               f"{describe(url if parts is None else redact_url(url))}")
        if format not in _WEBHOOK_FORMATS:
            raise invalid("WebhookChannel", "format", format, f"one of {', '.join(_WEBHOOK_FORMATS)}")
        _check_retry_args("WebhookChannel", timeout_s, retries, backoff_s)
        self.url = url
        self.format = format
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"WebhookChannel({redact_url(self.url)!r}, format={self.format!r})"

    def describe(self) -> str:
        return f"webhook({self.format}) {redact_url(self.url)}"

    def payload(self, alert: Alert) -> Any:
        if self.format == "slack":
            icon = {"info": ":information_source:", "warning": ":warning:", "critical": ":red_circle:"}
            text = f"{icon[alert.severity]} *[{alert.severity}] {alert.name}* {alert.summary}".rstrip()
            if alert.labels:
                text += "\n" + ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
            return {"text": text}
        if self.format == "alertmanager":
            labels = {"alertname": alert.name, "severity": alert.severity}
            for k, v in alert.labels.items():
                name = k if _LABEL_NAME.fullmatch(k) else re.sub(r"\W", "_", k) or "_"
                labels[name if not name[0].isdigit() else f"_{name}"] = v
            return [{
                "labels": labels,
                "annotations": {"summary": alert.summary, "source": alert.source,
                                "details": json.dumps(jsonable(alert.details), sort_keys=True)},
                "startsAt": _iso(alert.fired_at),
            }]
        return alert.to_dict()

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert), allow_nan=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "vigil-alerts", **self.headers}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            why = f"{redact_url(self.url)} answered HTTP {exc.code}"
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise TransportError(why) from None
            raise _Permanent(why) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(f"{redact_url(self.url)} unreachable: {type(reason).__name__}: "
                                 f"{_scrub(str(reason), self.url)}") from None


class EmailChannel:
    """Send the alert as a plain-text e-mail over SMTP.

    Parameters
    ----------
    host : str
    port : int, optional
        Default 465 with ``ssl``, 587 with ``starttls``, else 25.
    sender : str
    to : str or list of str
    starttls, ssl : bool
        Upgrade the connection with STARTTLS, or connect over TLS (SMTPS).
    username, password : str, optional
        Login (after TLS when enabled); the password is never logged.
    timeout_s, retries, backoff_s : float, int, float

    Examples
    --------
    >>> EmailChannel('mail.example', sender='vigil@example', to='ops@example').describe()
    'email smtp://mail.example:25 -> ops@example'
    """

    kind = "email"

    def __init__(self, host: str, port: int | None = None, sender: str = "vigil@localhost",
                 to: str | Sequence[str] = (), starttls: bool = False, ssl: bool = False,
                 username: str | None = None, password: str | None = None, timeout_s: float = 10.0,
                 retries: int = 2, backoff_s: float = 1.0) -> None:
        if not isinstance(host, str) or not host:
            raise invalid("EmailChannel", "host", host, "a host name")
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise invalid("EmailChannel", "to", to, "one or more e-mail addresses")
        if not isinstance(sender, str) or "@" not in sender:
            raise invalid("EmailChannel", "sender", sender, "an e-mail address")
        if starttls and ssl:
            raise InvalidInput("EmailChannel: choose starttls=True or ssl=True, not both")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise invalid("EmailChannel", "port", port, "an int in 1..65535 or None")
        _check_retry_args("EmailChannel", timeout_s, retries, backoff_s)
        self.host = host
        self.port = port or (465 if ssl else 587 if starttls else 25)
        self.sender = sender
        self.to = recipients
        self.starttls = bool(starttls)
        self.ssl = bool(ssl)
        self.username = username
        self._password = password
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)

    def __repr__(self) -> str:
        return f"EmailChannel({self.host!r}, port={self.port}, to={self.to!r})"

    def describe(self) -> str:
        scheme = "smtps" if self.ssl else "smtp"
        return f"email {scheme}://{self.host}:{self.port} -> {', '.join(self.to)}"

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[vigil] {alert.severity}: {alert.name}" + (f" - {alert.summary}" if alert.summary else "")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        lines = [alert.summary, "", f"severity: {alert.severity}", f"source:   {alert.source}",
                 f"fired at: {_iso(alert.fired_at)}"]
        lines += [f"{k}: {v}" for k, v in sorted(alert.labels.items())]
        lines += ["", json.dumps(jsonable(alert.details), indent=2, sort_keys=True)]
        msg.set_content("\n".join(lines))
        return msg

    def send(self, alert: Alert) -> None:
        msg = self.message(alert)
        try:
            if self.ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                                      context=ssl_module.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=ssl_module.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError) as exc:
            raise _Permanent(f"{self.describe()}: {type(exc).__name__}: {_smtp_reason(exc)}") from None
        except smtplib.SMTPResponseException as exc:
            why = f"{self.describe()}: SMTP {exc.smtp_code} {_smtp_reason(exc)}"
            raise (_Permanent(why) if 500 <= exc.smtp_code < 600 else TransportError(why)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"{self.describe()}: {type(exc).__name__}: {exc}") from None


def _smtp_reason(exc: BaseException) -> str:
    error = getattr(exc, "smtp_error", None)
    if isinstance(error, bytes):
        return error.decode(errors="replace")
    return str(error or exc)


def _scrub(text: str, url: str) -> str:
    """Remove the URL (which may carry secrets) from an error text."""
    return text.replace(url, redact_url(url))


def _check_retry_args(who: str, timeout_s: Any, retries: Any, backoff_s: Any) -> None:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise invalid(who, "timeout_s", timeout_s, "a number of seconds > 0")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise invalid(who, "retries", retries, "an int in 0..20")
    if isinstance(backoff_s, bool) or not isinstance(backoff_s, (int, float)) or not 0 <= backoff_s <= 600:
        raise invalid(who, "backoff_s", backoff_s, "a number of seconds in [0, 600]")


# -- specs ------------------------------------------------------------------------------
_KINDS = ("log", "webhook", "slack", "alertmanager", "email")


def channel_from_spec(spec: Any) -> Channel:
    """A channel from a spec (see the module docstring), or the channel itself.

    Examples
    --------
    >>> channel_from_spec('log').describe()
    'logger vigil.alerts'
    >>> channel_from_spec({'slack': 'https://hooks.slack.com/services/T/B/x'}).describe()
    'webhook(slack) https://hooks.slack.com/...'
    >>> channel_from_spec('smtp://mail.example:2525?from=v@example&to=a@example,b@example').to
    ['a@example', 'b@example']
    >>> channel_from_spec('pager')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: channel_from_spec: spec must be 'log', an http(s) URL (optionally 'slack+' or 'alertmanager+'), an smtp:// or smtps:// URL, or a one-key dict with a key in log, webhook, slack, alertmanager, email; got 'pager' (str)
    """
    if isinstance(spec, Channel):
        return spec
    expected = ("'log', an http(s) URL (optionally 'slack+' or 'alertmanager+'), an smtp:// or smtps:// URL, "
                f"or a one-key dict with a key in {', '.join(_KINDS)}")
    if isinstance(spec, str):
        if spec == "log":
            return LogChannel()
        scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
        if scheme in ("http", "https"):
            return WebhookChannel(spec)
        if scheme in ("slack+http", "slack+https", "alertmanager+http", "alertmanager+https"):
            fmt, _, rest = spec.partition("+")
            return WebhookChannel(rest, format=fmt)
        if scheme in ("smtp", "smtps"):
            return _email_from_url(spec)
        raise invalid("channel_from_spec", "spec", spec if not scheme else redact_url(spec), expected)
    if isinstance(spec, Mapping) and len(spec) == 1:
        (kind, arg), = spec.items()
        if kind == "log":
            return LogChannel(**(arg if isinstance(arg, Mapping) else {}))
        if kind in ("webhook", "slack", "alertmanager"):
            fmt = "json" if kind == "webhook" else str(kind)
            if isinstance(arg, str):
                return WebhookChannel(arg, format=fmt)
            if isinstance(arg, Mapping):
                return WebhookChannel(**{"format": fmt, **arg})
        if kind == "email" and isinstance(arg, Mapping):
            return EmailChannel(**arg)
        if kind == "email" and isinstance(arg, str):
            return _email_from_url(arg)
    raise invalid("channel_from_spec", "spec", spec, expected)


def channels_from_specs(specs: Any) -> list[Channel]:
    """Channels from one spec or a list of specs (None: no channel).

    Examples
    --------
    >>> [c.kind for c in channels_from_specs(['log', 'https://example.org/hook'])]
    ['log', 'webhook']
    """
    if specs is None:
        return []
    if isinstance(specs, (str, Mapping)) or isinstance(specs, Channel):
        specs = [specs]
    return [channel_from_spec(s) for s in specs]


def _email_from_url(url: str) -> EmailChannel:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)

    def one(name: str, default: str | None = None) -> str | None:
        return query.get(name, [default])[-1]

    truthy = ("1", "true", "yes", "on")
    to = [a for v in query.get("to", []) for a in v.split(",") if a]
    return EmailChannel(
        parts.hostname or "", port=parts.port, sender=one("from", "vigil@localhost") or "",
        to=to, starttls=(one("starttls", "0") or "").lower() in truthy, ssl=parts.scheme.lower() == "smtps",
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        timeout_s=float(one("timeout_s", "10") or 10),
    )


# -- delivery ---------------------------------------------------------------------------
class Cooldown:
    """Hold back an alert whose ``(name, labels)`` was sent less than ``cooldown_s`` ago.

    :meth:`claim` reserves the key (so two threads do not both send);
    :meth:`release` gives it back when no channel delivered.

    Examples
    --------
    >>> cd = Cooldown(60, clock=lambda: 0.0)
    >>> a = Alert('x', labels={'agent': '1'})
    >>> cd.claim(a), cd.claim(a), cd.claim(Alert('x', labels={'agent': '2'}))
    (True, False, True)
    """

    def __init__(self, cooldown_s: float = 3600.0, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(cooldown_s, bool) or not isinstance(cooldown_s, (int, float)) or cooldown_s < 0:
            raise invalid("Cooldown", "cooldown_s", cooldown_s, "a number of seconds >= 0")
        self.cooldown_s = float(cooldown_s)
        self.max_keys = max_keys
        self._clock = clock
        self._last: OrderedDict[Any, float] = OrderedDict()
        self._lock = threading.Lock()
        self.suppressed = 0

    def claim(self, alert: Alert) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(alert.key)
            if last is not None and now - last < self.cooldown_s:
                self.suppressed += 1
                return False
            self._last[alert.key] = now
            self._last.move_to_end(alert.key)
            while len(self._last) > self.max_keys:
                self._last.popitem(last=False)
            return True

    def release(self, alert: Alert) -> None:
        with self._lock:
            self._last.pop(alert.key, None)


def deliver(alert: Alert, channels: Iterable[Any] | Any, experiment: Any = None,
            cooldown: Cooldown | None = None, sleep: Callable[[float], None] = time.sleep) -> list[Delivery]:
    """Send ``alert`` through every channel, retrying each with exponential backoff.

    Every outcome is logged (``vigil.alerts``); with ``experiment`` the alert and
    its deliveries are also logged there as an ``alert`` event. With a
    ``cooldown``, an alert sent less than ``cooldown_s`` ago is held back and
    ``[]`` is returned (nothing is logged). Never raises for a failed channel.

    Examples
    --------
    >>> [d.status for d in deliver(Alert('doc', 'info', 'hello'), ['log'])]
    ['delivered']
    """
    chans = channels_from_specs(channels)
    if cooldown is not None and not cooldown.claim(alert):
        return []
    results = [_deliver_one(alert, ch, sleep) for ch in chans]
    if cooldown is not None and chans and not any(r.ok for r in results):
        cooldown.release(alert)  # nothing got through: the next occurrence may try again
    if experiment is not None:
        try:
            experiment.log_event("alert", alert.name, {
                **alert.to_dict(), "deliveries": [asdict(r) for r in results],
            })
        except Exception as exc:  # noqa: BLE001 - recording is best effort; the alert went out
            log.error("vigil: could not record alert %r in %r: %s", alert.name,
                      getattr(experiment, "experiment", experiment), exc)
    return results


def _deliver_one(alert: Alert, ch: Channel, sleep: Callable[[float], None]) -> Delivery:
    started = time.monotonic()
    attempts = 0
    error = ""
    for attempt in range(1 + max(0, int(ch.retries))):
        attempts = attempt + 1
        try:
            ch.send(alert)
        except TransportError as exc:
            error = str(exc)
            if not getattr(exc, "retryable", True) or attempt == ch.retries:
                break
            sleep(min(ch.backoff_s * 2 ** attempt, 60.0))
        except Exception as exc:  # noqa: BLE001 - a broken channel must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            break
        else:
            elapsed = time.monotonic() - started
            log.info("vigil: alert %r delivered via %s (%d attempt%s)", alert.name, ch.describe(),
                     attempts, "" if attempts == 1 else "s")
            return Delivery(ch.kind, ch.describe(), "delivered", attempts, None, round(elapsed, 4))
    elapsed = time.monotonic() - started
    log.warning("vigil: alert %r NOT delivered via %s after %d attempt%s: %s", alert.name, ch.describe(),
                attempts, "" if attempts == 1 else "s", error)
    return Delivery(ch.kind, ch.describe(), "failed", attempts, error, round(elapsed, 4))


class Notifier:
    """Channels plus a cooldown: what job code and the collector use to raise alerts.

    Examples
    --------
    >>> n = Notifier('log', cooldown_s=60)
    >>> len(n.notify(Alert('doc', 'info'))), len(n.notify(Alert('doc', 'info')))
    (1, 0)
    """

    def __init__(self, channels: Any = "log", cooldown_s: float = 3600.0) -> None:
        self.channels = channels_from_specs(channels)
        self.cooldown = Cooldown(cooldown_s)

    def notify(self, alert: Alert, experiment: Any = None) -> list[Delivery]:
        return deliver(alert, self.channels, experiment=experiment, cooldown=self.cooldown)
