"""Windows into the tracking store: the server-less mode, and what the collector calls.

One window becomes two events in an experiment (``agents/<agent_id>`` for the agent):

- a ``data`` event ``sample``: ``{'proba': ndarray, 'inputs': ndarray or DataFrame or None,
  'labels': ndarray or None, 'feature_names': list or None}`` with extra fields
  ``window_start`` and ``window_id``; each array's npy bytes are kept in the event
  (a sample of up to :data:`INLINE_SAMPLE_BYTES`), or the arrays go to the object
  store as ONE npz object per window, each referenced with its ``member`` name
  (mixed-type inputs: Parquet and npy objects, as ``log_data`` writes them);
- last, a ``window`` event: key = window_id, value = the window without its sample,
  its metric points included (the wire format, :mod:`vigil.agent.wire`).

The points are read back from the ``window`` events (:func:`window_points`,
:func:`stored_windows`): one row per window rather than one per point, which is
what lets a collector store a thousand windows a second. Windows stored by
earlier versions also have one ``metric`` event per point; their ``window``
event holds the same points, so they read the same way (the ``metric`` rows
are left as they are, and ignored).

The ``window`` event is written last and checked first, so it marks a window
as stored: a window whose writing was interrupted is written again in full
when re-sent, and a window that was stored is never stored twice (the check
is an indexed point lookup, :meth:`vigil.store.sql.SqlEventStore.has_event`,
where the experiment reads the workspace's event store). vigil (and pandas,
for mixed-type inputs) is imported inside the functions, so ``import
vigil.agent`` stays light.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from vigil.agent.shipper import DELIVERED, REJECTED, RETRY, decode_window

#: The labels of a point, besides its metric: together they name a series.
POINT_LABELS = ("stat", "class", "feature", "category")
_POINT_KEYS = ("metric", *POINT_LABELS)


def _text(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


def window_to_events(exp: Any, window: Mapping[str, Any], *, check_stored: bool = True) -> bool:
    """Store one wire-format window in experiment ``exp``; False if it is already there.

    Parameters
    ----------
    exp : vigil.tracking.provider.TrackingProvider
        From ``vigil.runtime.experiment(...)``; a run is started if none is active.
    window : mapping
        A window as sent on the wire (see :mod:`vigil.agent.wire`): parsed
        JSON (lists) or the agent's own dict.
    check_stored : bool
        Look for the window in the store first (default). A caller that
        knows the window is not stored (the collector, which tracks the ids
        it has seen) passes False and saves the lookup.

    Returns
    -------
    bool
        True when stored (durably: the experiment is flushed), False when an
        event ``window`` with this ``window_id`` already exists (duplicate).

    Examples
    --------
    >>> import vigil as om
    >>> from vigil.agent import MonitoringAgent
    >>> windows = []
    >>> with MonitoringAgent(n_classes=2, agent_id='doc-storage', sink=windows.append) as agent:
    ...     agent.collect_data(predict_proba_matrix=[[0.9, 0.1], [0.3, 0.7]], label_matrix=[0, 1])
    >>> exp = om.runtime.experiment('windows/doc')
    >>> window_to_events(exp, windows[0]), window_to_events(exp, windows[0])
    (True, False)
    >>> [p['value'] for p in window_points(exp, 'accuracy')]
    [1.0]
    """
    window_id = window["window_id"]
    if check_stored and _stored(exp, window_id):
        return False
    start = float(window["start"])
    sample = window.get("sample")
    if isinstance(sample, Mapping):
        arrays = _sample_arrays(sample, int(window["n_classes"]))
        if not _log_sample(exp, arrays, start, window_id):
            exp.log_data("sample", arrays, window_start=start, window_id=window_id)
    _log_window(exp, window)
    exp.flush()
    return True


def _log_window(exp: Any, window: Mapping[str, Any]) -> None:
    """The ``window`` event, as ``exp.log_event('window', window_id, window without its sample)`` writes it.

    Its JSON is built from cached per-series fragments (a point's text up to
    its value is the same in every window): about half the time of
    ``json.dumps``, the largest cost of storing a window after its sample.
    """
    from vigil.tracking.provider import _NODE, TrackingProvider

    value = {k: v for k, v in window.items() if k != "sample"}
    text = _window_json(value) if type(exp).log_event is TrackingProvider.log_event else None
    if text is None:
        exp.log_event("window", window["window_id"], value)
        return
    x = exp._extra("log_event", {})
    run = exp._active("log_event")
    exp._write([(exp._exp_id, run, "window", str(window["window_id"]), None, text, None, time.time(), _NODE,
                 exp._userid, None, x)])


_POINT_JSON: dict[tuple[Any, ...], str] = {}  # a point's labels -> its JSON text up to the value
_MAX_POINT_JSON = 100_000
_JSON = json.JSONEncoder(separators=(",", ":"))


def _window_json(value: Mapping[str, Any]) -> str | None:
    """JSON of a window without its sample (points last), or None where the fast path does not
    apply (a point value that is not a finite float, odd keys): the caller then uses json.

    Examples
    --------
    >>> w = {'window_id': 'a:0', 'points': [{'metric': 'm', 'stat': None, 'class': '1', 'feature': None,
    ...                                      'category': None, 'value': 0.5}]}
    >>> json.loads(_window_json(w)) == w
    True
    """
    points = value.get("points")
    if not isinstance(points, list) or not isinstance(value.get("window_id"), str):
        return None
    cache = _POINT_JSON
    parts = []
    for p in points:
        if not isinstance(p, dict) or len(p) != 6:
            return None
        v = p["value"]
        if type(v) is not float or not math.isfinite(v):
            return None
        key = (p["metric"], p["stat"], p["class"], p["feature"], p["category"])
        head = cache.get(key)
        if head is None:
            if not all(k is None or type(k) is str for k in key):
                return None
            head = _JSON.encode(dict(zip(_POINT_KEYS, key)))[:-1] + ',"value":'
            if len(cache) >= _MAX_POINT_JSON:
                cache.clear()
            cache[key] = head
        parts.append(head + repr(v) + "}")
    try:
        top = _JSON.encode({k: v for k, v in value.items() if k != "points"})
    except (TypeError, ValueError):
        return None
    return top[:-1] + ("," if len(top) > 2 else "") + '"points":[' + ",".join(parts) + "]}"


def _stored(exp: Any, window_id: str) -> bool:
    """Is there a ``window`` event ``window_id`` in ``exp`` (any run)? An indexed point lookup
    when the experiment reads the workspace's event store, else a query through ``exp.data``."""
    from vigil.tracking.provider import DefaultProvider

    lookup = None
    if isinstance(exp, DefaultProvider) and type(exp)._read is DefaultProvider._read:
        lookup = getattr(exp.stores.events, "has_event", None)
    if lookup is None:
        return bool(exp.data(run="all", event="window", key=window_id, raw=True))
    exp.flush()  # as exp.data does: rows logged before are visible
    exp_id = exp._read_id
    return exp_id >= 0 and bool(lookup(exp_id, "window", window_id))


# -- reading ------------------------------------------------------------------------------------
def stored_windows(exp: Any, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The windows stored in ``exp`` (any run), in the order they were stored.

    Each is the wire-format window without its sample (the value of its
    ``window`` event); windows of every storage layout read the same.

    Examples
    --------
    >>> import vigil as om
    >>> exp = om.runtime.experiment('windows/doc-stored')
    >>> [w['window_id'] for w in stored_windows(exp)]
    []
    """
    for page in exp.data(run="all", event="window", raw=True, batchsize=batch):
        for record in page:
            value = record.get("value")
            if isinstance(value, Mapping):
                yield dict(value)


def window_points(exp: Any, metric: str | None = None, since: float | None = None, until: float | None = None,
                  **labels: str | None) -> list[dict[str, Any]]:
    """The metric points of the windows stored in ``exp``, ordered by window end.

    Parameters
    ----------
    exp : vigil.tracking.provider.TrackingProvider
    metric : str, optional
        Only this metric (default: every metric).
    since, until : float, optional
        Only windows whose end is in ``[since, until]`` (epoch seconds).
    **labels : str or None
        ``stat``, ``cls`` (or ``class``), ``feature``, ``category``: only points
        with this label (None: any).

    Returns
    -------
    list of dict
        ``{'t': window end, 'metric', 'value', 'stat', 'class', 'feature', 'category',
        'window_id'}``; a non-finite value is None. A window stored twice by an
        old version (an interrupted write, re-sent) counts once.
    """
    return points_of(stored_windows(exp), metric, since, until, **labels)


def points_of(windows: Iterable[Mapping[str, Any]], metric: str | None = None, since: float | None = None,
              until: float | None = None, **labels: str | None) -> list[dict[str, Any]]:
    """The points of wire-format windows, filtered as :func:`window_points` says, ordered by window end.

    Examples
    --------
    >>> w = {'window_id': 'a:0', 'end': 60.0, 'points': [
    ...     {'metric': 'pred1', 'stat': 'mean', 'class': None, 'feature': None, 'category': None, 'value': 0.9},
    ...     {'metric': 'pred1', 'stat': 'std', 'class': None, 'feature': None, 'category': None, 'value': 0.1}]}
    >>> [(p['t'], p['value']) for p in points_of([w], 'pred1', stat='std')]
    [(60.0, 0.1)]
    """
    wanted = _label_filter(labels)
    seen: set[Any] = set()
    out: list[dict[str, Any]] = []
    for w in windows:
        try:
            t = float(w["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if not math.isfinite(t) or (since is not None and t < since) or (until is not None and t > until):
            continue
        wid = w.get("window_id")
        if wid in seen:
            continue
        seen.add(wid)
        for p in w.get("points") or ():
            if not isinstance(p, Mapping) or (metric is not None and p.get("metric") != metric):
                continue
            if wanted and any(p.get(k) != v for k, v in wanted):
                continue
            value = p.get("value")
            finite = (float(value) if isinstance(value, (int, float)) and not isinstance(value, bool)
                      and math.isfinite(value) else None)
            out.append({"t": t, "metric": p.get("metric"), "value": finite,
                        **{k: p.get(k) for k in POINT_LABELS}, "window_id": wid})
    out.sort(key=lambda p: p["t"])
    return out


def _label_filter(labels: Mapping[str, str | None]) -> list[tuple[str, str]]:
    wanted = []
    for name, value in labels.items():
        key = "class" if name == "cls" else name
        if key not in POINT_LABELS:
            from vigil.errors import InvalidInput

            raise InvalidInput(f"window_points: unknown label {name!r}; known: stat, cls, feature, category")
        if value is not None:
            wanted.append((key, value))
    return wanted


#: A window's sample up to this many bytes (as npy) is kept in its ``data`` event; a bigger one is an npz object.
INLINE_SAMPLE_BYTES = 256 * 1024


def sample_kept_in_event(sample: Mapping[str, Any] | None) -> bool:
    """Would a wire-format sample be stored without an object write (see :func:`_log_sample`)?

    True when it has no sample, or only numbers (or missing values) whose
    arrays fit in :data:`INLINE_SAMPLE_BYTES`. The collector stores such a
    window without leaving its HTTP thread.
    """
    if not isinstance(sample, Mapping):
        return True
    proba, inputs, labels = sample.get("proba") or [], sample.get("inputs") or [], sample.get("labels") or []
    cells = sum(map(len, proba)) + sum(map(len, inputs)) + len(labels)
    if cells * 8 > INLINE_SAMPLE_BYTES:
        return False
    numeric = (int, float, type(None))
    return all(type(v) in numeric for row in inputs for v in row)


def _log_sample(exp: Any, arrays: dict[str, Any], start: float, window_id: str) -> bool:
    """The ``sample`` data event as ``exp.log_data`` writes it, its arrays held in the event or ONE npz object.

    Each array is a reference ``{'$ref': {'format': ..., ...}}`` that
    ``exp.restore_data('sample')`` (and ModelDriftMonitor) resolve to the same
    dict of arrays as ``log_data``'s npy objects. A sample of up to
    :data:`INLINE_SAMPLE_BYTES` keeps each array's npy bytes in its reference
    (``inline``, base64): no object write at all, which is most of what storing
    a window used to cost (a file, its folder, a rename). A bigger one goes to
    one npz object, each reference naming its ``member``. False (nothing
    written) for mixed-type inputs (a DataFrame: Parquet) or a provider that
    logs data its own way: the caller then uses ``log_data``.
    """
    import base64
    import hashlib

    import numpy as np

    from vigil.tracking.provider import TrackingProvider

    if type(exp).log_data is not TrackingProvider.log_data or not _npz_readable():
        return False
    members = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray)}
    if any(v is not None and k not in members and not isinstance(v, list) for k, v in arrays.items()) \
            or any(v.dtype.hasobject for v in members.values()):
        return False
    x = exp._extra("log_data", {"window_start": start, "window_id": window_id})
    run = exp._active("log_data")
    refs: dict[str, dict[str, Any]] = {}
    if sum(v.nbytes for v in members.values()) <= INLINE_SAMPLE_BYTES:
        for k, v in members.items():
            data = npy_bytes(v)
            refs[k] = {"format": "npy", "inline": base64.b64encode(data).decode("ascii"), "size": len(data)}
    else:
        data = npz_bytes(members)
        key = f"experiments/{exp._uid}/runs/{run}/data/sample/{uuid.uuid4().hex}.npz"
        exp._put_object(key, data)
        ref = {"key": key, "format": "npz", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        refs = {k: {**ref, "member": k} for k in members}
    payload = {k: {"$ref": {**refs[k], "shape": list(members[k].shape), "dtype": members[k].dtype.name}}
               if k in members else v for k, v in arrays.items()}
    exp._write([exp._row(run, "data", "sample", payload, None, x, name="sample", who="log_data")])
    return True


def npy_bytes(value: Any) -> bytes:
    """One array as an ``.npy`` file, as ``np.save`` writes it (about a tenth of its time for small arrays).

    Arrays of object dtype are refused (they would need pickle).

    Examples
    --------
    >>> import io, numpy as np
    >>> np.load(io.BytesIO(npy_bytes(np.eye(2)))).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    import struct

    import numpy as np

    arr = np.asarray(value)
    if arr.dtype.hasobject:
        from vigil.errors import InvalidInput

        raise InvalidInput(f"npy_bytes: an array of dtype object; vigil never pickles arrays (shape {arr.shape})")
    fortran = arr.flags.f_contiguous and not arr.flags.c_contiguous
    body = (arr.T if fortran else np.ascontiguousarray(arr)).tobytes()
    fields = {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": fortran, "shape": tuple(arr.shape)}
    text = repr(fields)[:-1] + ", }"
    pad = -(10 + len(text) + 1) % 64  # magic, version, length, header and its newline: 64-byte aligned
    header = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + body


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    """The arrays as an ``.npz`` file (uncompressed ZIP of ``.npy`` members), as ``np.savez`` writes it.

    Built directly (one ``bytes`` join, a CRC per member) rather than through
    :mod:`zipfile`: about a tenth of ``np.savez`` 's time for the small
    arrays of a window sample, read back by ``np.load`` like any npz.
    Arrays of object dtype are refused (they would need pickle).

    Examples
    --------
    >>> import io, numpy as np
    >>> data = npz_bytes({'a': np.arange(3), 'b': np.eye(2)})
    >>> with np.load(io.BytesIO(data), allow_pickle=False) as z:
    ...     z['a'].tolist(), z['b'].tolist()
    ([0, 1, 2], [[1.0, 0.0], [0.0, 1.0]])
    """
    import struct
    import zlib

    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, value in arrays.items():
        member = npy_bytes(value)
        crc = zlib.crc32(member)
        fname = f"{name}.npy".encode()
        # stored (no compression), DOS time of 1980-01-01 00:00
        local.append(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(member), len(member),
                                 len(fname), 0) + fname)
        local.append(member)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(member),
                                   len(member), len(fname), 0, 0, 0, 0, 0o600 << 16, offset) + fname)
        offset += 30 + len(fname) + len(member)
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0)
    return b"".join(local) + directory + end


_NPZ_READABLE: list[bool] = []


def _npz_readable() -> bool:
    """Does this vigil read ``npz`` references (:func:`vigil.store.serializers.decode`)?"""
    if not _NPZ_READABLE:
        import numpy as np

        from vigil.store.serializers import decode

        buf = io.BytesIO()
        np.savez(buf, a=np.arange(2))
        try:
            _NPZ_READABLE.append(decode(buf.getvalue(), "npz", {"member": "a"}).tolist() == [0, 1])
        except Exception:  # noqa: BLE001 - an older decoder: one npy object per array
            _NPZ_READABLE.append(False)
    return _NPZ_READABLE[0]


def _sample_arrays(sample: Mapping[str, Any], n_classes: int) -> dict[str, Any]:
    import numpy as np

    proba = np.asarray(sample.get("proba") or [], dtype=np.float64).reshape(-1, n_classes)
    labels = sample.get("labels")
    names = sample.get("feature_names")
    inputs = sample.get("inputs")
    if inputs is not None:
        try:
            inputs = np.array(inputs, dtype=np.float64).reshape(len(inputs), -1)
        except (TypeError, ValueError):
            import pandas as pd

            columns = [_text(str(n)) for n in names] if names else None
            inputs = pd.DataFrame(list(inputs), columns=columns)
    return {
        "proba": proba,
        "inputs": inputs,
        "labels": None if labels is None else np.asarray(labels, dtype=np.int64),
        "feature_names": None if names is None else [_text(str(n)) for n in names],
    }


class StoreSink:
    """The server-less sink: each window goes straight to the tracking store.

    Writes into experiment ``agents/<agent_id>`` with :func:`window_to_events`.
    A window the store refuses as invalid is REJECTED; any other failure
    (database locked, disk full) is a RETRY.
    """

    def __init__(self, agent_id: str) -> None:
        self.name = f"agents/{agent_id}"
        self.exp: Any = None
        self.last_error = ""

    def __call__(self, body: bytes) -> tuple[str, float | None]:
        window = decode_window(self, body)
        if window is None:
            return REJECTED, None
        from vigil.errors import InvalidInput

        try:
            if self.exp is None:
                import vigil.runtime

                self.exp = vigil.runtime.experiment(self.name)
            if self.exp.active_run() is None:
                self.exp.start()   # one run per agent lifetime (again if something stopped it)
            window_to_events(self.exp, window)
        except (InvalidInput, KeyError, TypeError) as exc:
            self.last_error = f"the store refused the window ({type(exc).__name__}: {exc})"
            return REJECTED, None
        except Exception as exc:  # noqa: BLE001 - keep the window spooled and retry
            self.last_error = f"the store failed ({type(exc).__name__}: {exc})"
            return RETRY, None
        return DELIVERED, None

    def close(self) -> None:
        """End the experiment's run (the agent calls this from ``close()``)."""
        if self.exp is not None and self.exp.active_run() is not None:
            self.exp.stop()
