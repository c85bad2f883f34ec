"""Safe serializers: objects to bytes and back, with the format recorded.

=========  ==========================================  =====================
format     objects                                     loader
=========  ==========================================  =====================
json       JSON-able values (NaN/inf kept)             :mod:`json`
bytes      bytes, bytearray, memoryview                as is
file       a file path (pathlib.Path or existing str)  bytes of the file
parquet    pandas DataFrame / Series                   pyarrow (dtypes, index kept)
npy        numpy arrays of non-object dtype            ``np.load(allow_pickle=False)``
npz        several such arrays in one object           ``np.load(allow_pickle=False)``; the
           (read only: the agent's window samples)     reference's ``member`` names the array
skops      scikit-learn estimators and pipelines       skops, trusted types only
pickle     anything else, only with ``allow_pickle``   pickle, only with ``allow_pickle``
=========  ==========================================  =====================

Stored pickles are never loaded unless the caller passes ``allow_pickle=True``.
A skops file loads only types skops trusts by default, classes defined in
scikit-learn itself, and the types the caller names in ``trusted=[...]``.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pathlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import (
    InvalidInput,
    MissingDependency,
    StoreError,
    UnsafeSerialization,
    VigilError,
    describe,
    invalid,
)

#: Packages whose *classes* a skops file may use without the caller naming them (tree
#: structures, KD-trees, distance metrics ...). Functions never qualify: a skops file can
#: call a type it loads (``ConstructorFromReduceNode``), so trusting ``builtins.exec`` or
#: ``numpy.memmap`` by module would let stored bytes run code or write files.
TRUSTED_PACKAGES = ("sklearn",)


@dataclass
class Encoded:
    data: bytes
    format: str
    info: dict[str, Any] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays to Python values; raise TypeError if not JSON-able."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any, who: str, arg: str) -> str:
    """JSON text of ``value`` (NaN and inf allowed); InvalidInput if not JSON-able."""
    try:
        return json.dumps(value, default=jsonable, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{who}: {arg} must be JSON-serializable; got {describe(value)} ({exc})") from None
    except RecursionError:
        raise InvalidInput(f"{who}: {arg} is nested too deeply to store as JSON; got a "
                           f"{type(value).__name__} nested deeper than Python's recursion limit") from None


def _is_estimator(obj: Any) -> bool:
    return any(c.__module__.split(".")[0] == "sklearn" for c in type(obj).__mro__) and hasattr(obj, "get_params")


def is_frame(obj: Any) -> bool:
    """True for a pandas DataFrame or Series (without importing pandas)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, (pd.DataFrame, pd.Series))


def is_array_like(obj: Any) -> bool:
    """True for a numpy array, a DataFrame or a Series: data that needs a binary format."""
    np = sys.modules.get("numpy")
    return (np is not None and isinstance(obj, np.ndarray)) or is_frame(obj)


def encode(obj: Any, *, allow_pickle: bool = False, who: str = "log_artifact") -> Encoded:
    """Serialize ``obj`` with the safest format that fits it.

    Examples
    --------
    >>> encode({'a': 1}).format
    'json'
    >>> import numpy as np; encode(np.arange(3)).format
    'npy'
    """
    import numpy as np

    if isinstance(obj, (bytes, bytearray, memoryview)):
        return Encoded(bytes(obj), "bytes")
    if isinstance(obj, pathlib.Path) or (isinstance(obj, str) and len(obj) < 4096 and os.path.isfile(obj)):
        path = pathlib.Path(obj)
        if not path.is_file():
            raise InvalidInput(f"{who}: obj is a path but no such file exists: {str(path)!r}")
        return Encoded(path.read_bytes(), "file", {"filename": path.name})
    if is_frame(obj):
        import pandas as pd

        series = isinstance(obj, pd.Series)
        frame = obj.to_frame() if series else obj
        buf = io.BytesIO()
        try:
            frame.to_parquet(buf, engine="pyarrow")
        except (ValueError, TypeError) as exc:
            if not allow_pickle:
                raise InvalidInput(f"{who}: this DataFrame cannot be stored as Parquet ({exc}); "
                                   "pass allow_pickle=True to store it with pickle") from None
            return _pickle(obj)
        info: dict[str, Any] = {"rows": len(frame), "series": series}
        if series and obj.name is None:
            info["unnamed"] = True  # to_frame() names the column 0; decode restores None
        return Encoded(buf.getvalue(), "parquet", info)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            if allow_pickle:
                return _pickle(obj)
            raise InvalidInput(f"{who}: obj is an object-dtype array, which needs pickle; "
                               "convert it or pass allow_pickle=True")
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return Encoded(buf.getvalue(), "npy", {"shape": list(obj.shape), "dtype": str(obj.dtype)})
    if _is_estimator(obj):
        try:
            import skops.io as sio
        except ImportError:
            raise MissingDependency("skops", "sklearn", "storing scikit-learn estimators") from None
        return Encoded(sio.dumps(obj), "skops", {"class": f"{type(obj).__module__}.{type(obj).__name__}"})
    try:
        return Encoded(json.dumps(obj, default=jsonable).encode(), "json")
    except (TypeError, ValueError):
        pass
    except RecursionError:
        raise InvalidInput(f"{who}: obj is nested too deeply to store as JSON; got a "
                           f"{type(obj).__name__} nested deeper than Python's recursion limit") from None
    if allow_pickle:
        return _pickle(obj)
    raise InvalidInput(
        f"{who}: obj of type {type(obj).__module__}.{type(obj).__name__} has no safe format "
        "(bytes, file path, JSON, DataFrame, ndarray, scikit-learn estimator); "
        "pass allow_pickle=True to store it with pickle"
    )


def _pickle(obj: Any) -> Encoded:
    import pickle

    return Encoded(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), "pickle",
                   {"class": f"{type(obj).__module__}.{type(obj).__name__}"})


def _trusted_class(name: str) -> bool:
    """True if ``name`` is a class defined in one of :data:`TRUSTED_PACKAGES`.

    Examples
    --------
    >>> _trusted_class('sklearn.tree._tree.Tree'), _trusted_class('builtins.exec')
    (True, False)
    """
    module, _, attr = name.rpartition(".")
    parts = module.split(".")
    if parts[0] not in TRUSTED_PACKAGES or not attr.isidentifier() or {"tests", "_testing"} & set(parts):
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    # defined there, not re-exported from elsewhere, and a class (skops may call it)
    return isinstance(obj, type) and obj.__module__.split(".")[0] in TRUSTED_PACKAGES


def _corrupt_errors() -> tuple[type[BaseException], ...]:
    """What the loaders raise on bytes that are not what the record says (never VigilError)."""
    import zipfile

    errors: list[type[BaseException]] = [ValueError, TypeError, KeyError, IndexError, OSError, EOFError,
                                         RecursionError, zipfile.BadZipFile]
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        errors.append(pa.ArrowException)
    return tuple(errors)


def decode(data: bytes, fmt: str, info: dict[str, Any] | None = None, *,
           allow_pickle: bool = False, trusted: Iterable[str] = ()) -> Any:
    """Load bytes written by :func:`encode`.

    Bytes that are not what ``fmt`` says (damaged, or swapped by someone with
    write access to the object store) raise :class:`~vigil.errors.StoreError`,
    never the loader's own exception; pickles are refused without ``allow_pickle``.

    Examples
    --------
    >>> e = encode([1, 2]); decode(e.data, e.format)
    [1, 2]
    >>> decode(b'PAR1 not really', 'parquet')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vigil.errors.StoreError: decode: the stored bytes are not valid parquet (ArrowInvalid: ...)
    """
    try:
        return _decode(data, fmt, info, allow_pickle=allow_pickle, trusted=trusted)
    except VigilError:
        raise
    except _corrupt_errors() as exc:
        text = " ".join(str(exc).split())[:200]
        raise StoreError(f"decode: the stored bytes are not valid {fmt} ({type(exc).__name__}: {text})") from None


def _decode(data: bytes, fmt: str, info: dict[str, Any] | None, *,
            allow_pickle: bool, trusted: Iterable[str]) -> Any:
    info = info or {}
    if fmt == "json":
        return json.loads(data)
    if fmt in ("bytes", "file"):
        return data
    if fmt == "parquet":
        import pandas as pd

        frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
        if not info.get("series"):
            return frame
        series = frame.iloc[:, 0]
        return series.rename(None) if info.get("unnamed") else series
    if fmt == "npy":
        import numpy as np

        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" not in str(exc):
                raise
            raise UnsafeSerialization(
                "these npy bytes hold an object array, which can only be loaded with pickle; "
                "vigil never unpickles npy data"
            ) from None
    if fmt == "npz":
        import numpy as np

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                member = info.get("member")
                return arrays[member] if member is not None else {k: arrays[k] for k in arrays.files}
        except ValueError as exc:
            if "allow_pickle" not in str(exc):
                raise
            raise UnsafeSerialization("these npz bytes hold an object array, which can only be loaded with "
                                      "pickle; vigil never unpickles npz data") from None
    if fmt == "skops":
        try:
            import skops.io as sio
        except ImportError:
            raise MissingDependency("skops", "sklearn", "loading scikit-learn estimators") from None
        if isinstance(trusted, (str, bytes, bool)):
            raise invalid("decode", "trusted", trusted, "a list of type names such as ['mypackage.MyEstimator']")
        allowed = set(trusted)
        untrusted = sio.get_untrusted_types(data=data)
        refused = [t for t in untrusted if t not in allowed and not _trusted_class(t)]
        if refused:
            raise UnsafeSerialization(
                f"the stored estimator uses types that are not trusted: {refused}; "
                "pass trusted=[...] naming them if you trust their source"
            )
        return sio.loads(data, trusted=list(untrusted))
    if fmt == "pickle":
        if not allow_pickle:
            raise UnsafeSerialization(
                "these bytes were stored with pickle, which can run arbitrary code when loaded; "
                "pass allow_pickle=True only if you trust who wrote them"
            )
        import pickle

        return pickle.loads(data)  # noqa: S301 - explicit opt-in above
    raise InvalidInput(f"decode: fmt must be one of json, bytes, file, parquet, npy, skops, pickle; got {fmt!r}")


EXTENSIONS = {"json": "json", "bytes": "bin", "file": "bin", "parquet": "parquet",
              "npy": "npy", "skops": "skops", "pickle": "pkl"}
