"""Send metric points (JSON Lines records) to Anodot in its metrics 2.0 format.

Anodot "Send Data Samples (2.0)": ``POST {base}/api/v1/metrics?token=<data
token>&protocol=anodot20`` with a JSON list of samples::

    [{"properties": {"what": "pred1", "agent": "1", "stat": "mean", "target_type": "gauge"},
      "timestamp": 1795418700, "value": 0.93, "tags": {}}]

``what`` is the measure; the other properties are its dimensions (at most 20
per metric, keys of 1-50 and values of 1-150 characters, no ``.``, ``=`` or
space: we replace them with ``_``); ``timestamp`` is integer epoch seconds;
``target_type`` gauge means samples are averaged. Source: the Anodot API
reference, section "Post Metrics" (docs.anodot.com/#post-metrics; mirrored in
github.com/ilan-anodot/anodotcost_api_docs_slate, source/includes/_Post Metrics.md).
Anodot's own client splits requests into chunks of 1,000 samples, and the
MLWatcher agent documents a limit of 2,000 data points per second: the
defaults here (``batch_size=1000``, ``rate_per_s=2000``) honour both.

Pacing is a token bucket holding at most one batch: a batch of ``n`` points
leaves only when ``n`` tokens have accumulated at ``rate_per_s``, so over any
span the points sent after the first batch never exceed ``rate_per_s`` times
its length. A 5xx, 408 or 429 answer or a network error is retried with
exponential backoff (``Retry-After`` honoured); another 4xx stops the export.
The token travels only in the URL query and is never logged.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.errors import InvalidInput, TransportError, invalid

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.anodot.com/api/v1/metrics"
MAX_BATCH = 1000
MAX_RATE_PER_S = 2000.0
_BAD_CHARS = re.compile(r"[.= ]")
#: JSONL field -> Anodot property (``what`` is the metric).
_DIMENSIONS = (("agent_id", "agent"), ("stat", "stat"), ("class", "class"),
               ("feature", "feature"), ("category", "category"))


def _prop(value: Any, limit: int) -> str:
    text = _BAD_CHARS.sub("_", str(value))
    return text[:limit]


def to_sample(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Anodot 2.0 sample of a JSONL record, or None if it has no finite value.

    Examples
    --------
    >>> to_sample({'t': 1795418700.5, 'agent_id': 'canary.1', 'metric': 'feature', 'stat': 'mean',
    ...            'class': None, 'feature': 'petal length', 'category': None, 'value': 1.5})
    {'properties': {'what': 'feature', 'agent': 'canary_1', 'stat': 'mean', 'feature': 'petal_length', 'target_type': 'gauge'}, 'timestamp': 1795418700, 'value': 1.5, 'tags': {}}
    >>> to_sample({'t': 1.0, 'agent_id': 'a', 'metric': 'm', 'value': None}) is None
    True
    """
    value = record.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    t = record.get("t")
    metric = record.get("metric")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not metric:
        return None
    props = {"what": _prop(metric, 150)}
    for field, name in _DIMENSIONS:
        v = record.get(field)
        if v is not None and v != "":
            props[name] = _prop(v, 150)
    props["target_type"] = "gauge"
    return {"properties": props, "timestamp": int(t), "value": float(value), "tags": {}}


def metrics_url(token: str, url: str | None = None) -> str:
    """The metrics endpoint with ``token`` and ``protocol=anodot20`` in the query.

    Examples
    --------
    >>> metrics_url('T0K')
    'https://api.anodot.com/api/v1/metrics?token=T0K&protocol=anodot20'
    >>> metrics_url('T', 'http://127.0.0.1:9/api/v1/metrics?protocol=anodot20')
    'http://127.0.0.1:9/api/v1/metrics?protocol=anodot20&token=T'
    """
    if not isinstance(token, str) or not token:
        raise InvalidInput("anodot: token must be the non-empty Anodot data collection token")
    parts = urllib.parse.urlsplit(url or DEFAULT_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"anodot: url must be an http(s) URL; got {_redact(url or '')!r}")
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "token"]
    if not any(k == "protocol" for k, _ in query):
        query.append(("protocol", "anodot20"))
    if url is None:
        query.insert(0, ("token", token))
    else:
        query.append(("token", token))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _redact(url: str) -> str:
    return re.sub(r"(token=)[^&]*", r"\1***", url)


class TokenBucket:
    """Pacing: ``take(n)`` waits until ``n`` tokens are there; tokens refill at ``rate_per_s``.

    Examples
    --------
    >>> clock = [0.0]
    >>> bucket = TokenBucket(100.0, 100, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    >>> bucket.take(100); bucket.take(50); round(clock[0], 3)
    0.5
    """

    def __init__(self, rate_per_s: float, capacity: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = float(rate_per_s)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._at = clock()

    def take(self, n: float) -> None:
        if n > self.capacity:
            raise invalid("TokenBucket.take", "n", n, f"at most the capacity {self.capacity:g}")
        while True:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= n:
                self._tokens -= n
                return
            self._sleep((n - self._tokens) / self.rate)


@dataclass
class ExportReport:
    """What an export did."""

    sent: int = 0
    batches: int = 0
    skipped: int = 0
    retries: int = 0
    rejected: int = 0  # samples the receiver reported as errors in a 2xx answer


class AnodotSender:
    """POST samples to Anodot in paced batches with retries.

    Parameters
    ----------
    token : str
        Anodot data collection token.
    url : str, optional
        Endpoint (default :data:`DEFAULT_URL`); ``token`` and ``protocol`` are added.
    batch_size : int
        Samples per request, at most 1,000.
    rate_per_s : float
        Samples per second, at most 2,000.
    retries, backoff_s, timeout_s : int, float, float
    """

    def __init__(self, token: str, url: str | None = None, batch_size: int = MAX_BATCH,
                 rate_per_s: float = MAX_RATE_PER_S, retries: int = 5, backoff_s: float = 1.0,
                 timeout_s: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise invalid("AnodotSender", "batch_size", batch_size, f"an int in 1..{MAX_BATCH}")
        if isinstance(rate_per_s, bool) or not isinstance(rate_per_s, (int, float)) \
                or not 0 < rate_per_s <= MAX_RATE_PER_S:
            raise invalid("AnodotSender", "rate_per_s", rate_per_s, f"a number in (0, {MAX_RATE_PER_S:g}]")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 50:
            raise invalid("AnodotSender", "retries", retries, "an int in 0..50")
        self._url = metrics_url(token, url)
        self.batch_size = batch_size
        self.rate_per_s = float(rate_per_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.timeout_s = float(timeout_s)
        self._sleep = sleep
        self._bucket = TokenBucket(self.rate_per_s, batch_size, sleep=sleep)

    def __repr__(self) -> str:
        return f"AnodotSender({_redact(self._url)!r}, batch_size={self.batch_size}, rate_per_s={self.rate_per_s:g})"

    def send(self, records: Iterable[Mapping[str, Any]]) -> ExportReport:
        """Convert and send every record; records without a finite value are skipped."""
        report = ExportReport()
        for batch in self._batches(records, report):
            self._bucket.take(len(batch))
            self._post(batch, report)
            report.sent += len(batch)
            report.batches += 1
        return report

    def _batches(self, records: Iterable[Mapping[str, Any]], report: ExportReport) -> Iterator[list[dict]]:
        batch: list[dict] = []
        for record in records:
            sample = to_sample(record)
            if sample is None:
                report.skipped += 1
                continue
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _post(self, batch: list[dict], report: ExportReport) -> None:
        body = json.dumps(batch, allow_nan=False).encode()
        where = _redact(self._url)
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self._url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            wait = self.backoff_s * 2 ** attempt
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    answer = response.read()
                report.rejected += _errors_in(answer)
                return
            except urllib.error.HTTPError as exc:
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                exc.close()
                why = f"{where} answered HTTP {exc.code}"
                if not (exc.code >= 500 or exc.code in (408, 429)):
                    raise TransportError(f"anodot export stopped: {why} (not retried)") from None
                if retry_after and retry_after.strip().isdigit():
                    wait = max(wait, float(retry_after))
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                why = f"{where} unreachable: {type(reason).__name__}: {_redact(str(reason))}"
            if attempt == self.retries:
                raise TransportError(f"anodot export stopped after {attempt + 1} attempts: {why}")
            report.retries += 1
            log.warning("vigil: anodot batch failed (%s); retry %d/%d in %.1fs", why, attempt + 1,
                        self.retries, wait)
            self._sleep(min(wait, 300.0))


def _errors_in(answer: bytes) -> int:
    """Count per-sample errors in an Anodot answer (``{"errors": [...]}``), 0 if none or unparsable."""
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        return 0
    errors = data.get("errors") if isinstance(data, dict) else None
    return len(errors) if isinstance(errors, list) else 0


def export_jsonl(source: str, token: str, url: str | None = None, **options: Any) -> ExportReport:
    """Send every record of the JSONL file(s) at ``source`` to Anodot; see :class:`AnodotSender`."""
    from vigil.export.jsonl import read_records

    return AnodotSender(token, url, **options).send(read_records(source))
