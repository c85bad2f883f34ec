"""Rotating JSON Lines files of metric points.

One line per metric point::

    {"t": 1795418700.0, "agent_id": "1", "metric": "pred1", "stat": "mean",
     "class": null, "feature": null, "category": null, "value": 0.93}

``t`` is the end of the window (epoch seconds); a non-finite value is written
as ``null`` so every line is valid JSON. Files are named
``{prefix}-{YYYYmmddTHHMMSSZ}-{nnnnnn}.jsonl`` after the time they were opened and
rotate when the clock crosses a multiple of ``rotate_s`` (hourly by default)
or when the next write would pass ``max_bytes`` (64 MiB). Each batch is one
``os.write`` of whole lines, so a crash can cut at most the last line of the
current file; :func:`read_records` skips such a line with a warning.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from vigil.errors import InvalidInput, NotFound, invalid

log = logging.getLogger(__name__)

FIELDS = ("t", "agent_id", "metric", "stat", "class", "feature", "category", "value")
_DUMPS = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def window_records(window: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The JSONL records of a window (wire format): one per point.

    Examples
    --------
    >>> w = {'agent_id': '1', 'end': 60.0, 'points': [
    ...     {'metric': 'pred1', 'stat': 'mean', 'class': None, 'feature': None, 'category': None, 'value': 0.9}]}
    >>> window_records(w)[0]['value']
    0.9
    """
    t = float(window["end"])
    agent = window["agent_id"]
    return [{"t": t, "agent_id": agent, "metric": p["metric"], "stat": p.get("stat"),
             "class": p.get("class"), "feature": p.get("feature"), "category": p.get("category"),
             "value": p.get("value")} for p in window["points"]]


_LINE_MIDDLES: dict[tuple[Any, ...], str] = {}  # (agent, metric, labels) -> the line between "t" and "value"
_MAX_MIDDLES = 100_000


def encode_window(window: Mapping[str, Any]) -> bytes:
    """The JSON Lines of a window's points: ``encode_records(window_records(window))``, faster.

    The text between ``t`` and ``value`` is the same in every window for a
    series, so it is built once per series (a bounded cache) and each line is
    only joined from its parts.

    Examples
    --------
    >>> w = {'agent_id': '1', 'end': 60.0, 'points': [
    ...     {'metric': 'pred1', 'stat': 'mean', 'class': None, 'feature': None, 'category': None, 'value': 0.9}]}
    >>> encode_window(w) == encode_records(window_records(w))
    True
    """
    t = _clean(float(window["end"]))
    agent = window["agent_id"]
    head = '{"t":' + ("null" if t is None else repr(t))
    parts: list[str] = []
    middles = _LINE_MIDDLES
    for p in window["points"]:
        key = (agent, p["metric"], p.get("stat"), p.get("class"), p.get("feature"), p.get("category"))
        middle = middles.get(key)
        if middle is None:
            middle = "," + _DUMPS(dict(zip(FIELDS[1:-1], key)))[1:-1] + ',"value":'
            if len(middles) >= _MAX_MIDDLES:
                middles.clear()
            middles[key] = middle
        value = p.get("value")
        if type(value) is float:
            text = repr(value) if math.isfinite(value) else "null"
        else:
            text = _DUMPS(_clean(value))
        parts.append(head + middle + text + "}")
    return ("\n".join(parts) + "\n").encode("utf-8") if parts else b""


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_records(records: Iterable[Mapping[str, Any]]) -> bytes:
    """Records as JSON Lines bytes (keys in :data:`FIELDS` order, NaN as null).

    Examples
    --------
    >>> encode_records([{'t': 1.0, 'agent_id': 'a', 'metric': 'm', 'value': float('nan')}])
    b'{"t":1.0,"agent_id":"a","metric":"m","stat":null,"class":null,"feature":null,"category":null,"value":null}\\n'
    """
    dumps = _DUMPS
    lines = [dumps({k: _clean(r.get(k)) for k in FIELDS}) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


class RotatingJsonlWriter:
    """Append records to JSON Lines files that rotate by time and size.

    Thread-safe. ``open`` happens on the first write; ``close`` ends the current file.

    Parameters
    ----------
    folder : str or Path
        Created if missing.
    prefix : str
        File name prefix.
    rotate_s : float
        Start a new file when the clock crosses a multiple of this many seconds (0: never).
    max_bytes : int
        Start a new file before a write would make the current one larger.

    Examples
    --------
    >>> import tempfile
    >>> w = RotatingJsonlWriter(tempfile.mkdtemp(), max_bytes=1024)
    >>> w.write([{'t': 1.0, 'agent_id': 'a', 'metric': 'm', 'value': float(i)} for i in range(20)])
    20
    >>> len(w.files()), sum(1 for _ in read_records(w.folder))
    (3, 20)
    >>> w.close()
    """

    def __init__(self, folder: str | os.PathLike[str], prefix: str = "vigil-metrics", rotate_s: float = 3600.0,
                 max_bytes: int = 64 * 2**20, clock: Callable[[], float] = time.time) -> None:
        if isinstance(rotate_s, bool) or not isinstance(rotate_s, (int, float)) or rotate_s < 0:
            raise invalid("RotatingJsonlWriter", "rotate_s", rotate_s, "a number of seconds >= 0 (0: no time rotation)")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1024:
            raise invalid("RotatingJsonlWriter", "max_bytes", max_bytes, "an int >= 1024")
        if not isinstance(prefix, str) or not prefix or "/" in prefix or os.sep in prefix:
            raise invalid("RotatingJsonlWriter", "prefix", prefix, "a non-empty file name prefix without '/'")
        self.folder = Path(folder)
        self.prefix = prefix
        self.rotate_s = float(rotate_s)
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._period: int | None = None
        self._seq = 0
        self.records_written = 0

    @property
    def path(self) -> Path | None:
        """The file being written (None before the first write)."""
        return self._path

    def files(self) -> list[Path]:
        """Every file of this prefix in the folder, oldest first."""
        return sorted(self.folder.glob(f"{self.prefix}-*.jsonl"))

    def _open(self, now: float) -> None:
        self._close_file()
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        while True:
            self._seq += 1
            path = self.folder / f"{self.prefix}-{stamp}-{self._seq:06d}.jsonl"
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                break
            except FileExistsError:
                continue  # a file of an earlier process in the same second
        self._path = path
        self._size = 0
        self._period = int(now // self.rotate_s) if self.rotate_s else 0

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append records; returns how many were written."""
        rows = list(records)
        if not rows:
            return 0
        return self.write_encoded(encode_records(rows), len(rows))

    def write_encoded(self, data: bytes, n_records: int) -> int:
        """Append ``n_records`` whole lines already encoded (:func:`encode_records`, :func:`encode_window`)."""
        if not data:
            return 0
        with self._lock:
            now = self._clock()
            period = int(now // self.rotate_s) if self.rotate_s else 0
            if self._fd is None or period != self._period:
                self._open(now)
            parts = [data] if self._size + len(data) <= self.max_bytes else _split_lines(data, self.max_bytes)
            for part in parts:
                if self._size and self._size + len(part) > self.max_bytes:
                    self._open(now)
                view = memoryview(part)
                while view:
                    view = view[os.write(self._fd, view):]  # type: ignore[arg-type]
                self._size += len(part)
            self.records_written += n_records
        return n_records

    def close(self) -> None:
        with self._lock:
            self._close_file()
            self._period = None


def _split_lines(data: bytes, max_bytes: int) -> list[bytes]:
    """Cut ``data`` at line ends into parts of at most ``max_bytes`` (a longer line stays whole)."""
    parts, start = [], 0
    while start < len(data):
        end = start + max_bytes
        if end >= len(data):
            parts.append(data[start:])
            break
        cut = data.rfind(b"\n", start, end)
        cut = data.find(b"\n", end) if cut < start else cut
        cut = len(data) - 1 if cut < 0 else cut
        parts.append(data[start:cut + 1])
        start = cut + 1
    return parts


def input_files(source: str | os.PathLike[str]) -> list[Path]:
    """The JSONL files named by ``source``: a file, a folder (its ``*.jsonl``) or a glob pattern.

    Examples
    --------
    >>> input_files('/nonexistent/x.jsonl')
    Traceback (most recent call last):
    ...
    vigil.errors.NotFound: no JSON Lines input at '/nonexistent/x.jsonl' (a file, a folder of *.jsonl or a glob pattern)
    """
    text = os.fspath(source)
    path = Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
    else:
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
    if not files:
        raise NotFound(f"no JSON Lines input at {text!r} (a file, a folder of *.jsonl or a glob pattern)")
    return files


def read_records(source: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Records of JSON Lines files, in file order; a cut last line is skipped with a warning,
    any other bad line raises :class:`~vigil.errors.InvalidInput` naming file and line."""
    for path in input_files(source):
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
        last = len(lines) - 1
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                if number - 1 == last:  # no newline after it: a write cut short by a crash
                    log.warning("vigil: skipping the incomplete last line of %s", path)
                    continue
                raise InvalidInput(f"read_records: {path}:{number} is not valid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise InvalidInput(f"read_records: {path}:{number} must be a JSON object; got "
                                   f"{type(record).__name__}")
            yield record
