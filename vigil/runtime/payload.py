"""Task payloads: JSON only, never pickle.

A task travels as a JSON dict. Its values are *references*:

=============================================  ======================================================
reference                                      meaning
=============================================  ======================================================
``{"json": value}``                            the JSON value itself
``{"dataset": name}``                          ``om.datasets.get(name)``, resolved where the task runs
``{"object": key, "format": f, "info": {}}``   an array or frame stored as a temporary object
=============================================  ======================================================

Temporary objects live under ``runtime/tmp/<call_id>/`` in the object store;
the worker deletes the inputs after the task, the caller the result once it
has read it (:func:`cleanup`).
"""

from __future__ import annotations

from typing import Any

from vigil.errors import InvalidInput, describe
from vigil.store.names import check_name
from vigil.store.serializers import EXTENSIONS, decode, encode, is_array_like, to_json

TMP_PREFIX = "runtime/tmp"
VERSION = 1


def tmp_prefix(call_id: str) -> str:
    check_name(call_id, "payload", "call_id")
    return f"{TMP_PREFIX}/{call_id}"


def pack(value: Any, stores: Any, call_id: str, arg: str, dataset_names: bool = False) -> dict[str, Any]:
    """A JSON reference to ``value``; arrays and frames are stored as temporary objects.

    With ``dataset_names``, a str is the name of a dataset (X and Y of a model call).

    Examples
    --------
    >>> pack([1, 2], None, 'c1', 'X')
    {'json': [1, 2]}
    >>> pack('housing', None, 'c1', 'X', dataset_names=True)
    {'dataset': 'housing'}
    """
    if value is None:
        return {"json": None}
    if isinstance(value, str) and dataset_names:
        return {"dataset": check_name(value, "runtime", arg)}
    if is_array_like(value):
        encoded = encode(value, who=f"runtime: {arg}")
        key = f"{tmp_prefix(call_id)}/{arg}.{EXTENSIONS[encoded.format]}"
        stores.objects.put(key, encoded.data)
        return {"object": key, "format": encoded.format, "info": encoded.info}
    to_json(value, "runtime", arg)
    return {"json": value}


def unpack(ref: Any, stores: Any, datasets: Any = None) -> Any:
    """The value a reference stands for (datasets are read through ``datasets``)."""
    if not isinstance(ref, dict) or len(ref) not in (1, 3):
        raise InvalidInput(f"runtime: a payload value must be a reference dict; got {describe(ref)}")
    if "json" in ref:
        return ref["json"]
    if "dataset" in ref:
        if datasets is None:
            from vigil.store.datasets import Datasets

            datasets = Datasets(stores)
        return datasets.get(check_name(ref["dataset"], "runtime", "dataset"))
    if "object" in ref:
        key = ref["object"]
        if not isinstance(key, str) or not key.startswith(TMP_PREFIX + "/") or ref.get("format") not in ("npy", "parquet"):
            raise InvalidInput(f"runtime: an object reference must name a temporary npy/parquet object; "
                               f"got {describe(ref)}")
        return decode(stores.objects.get(key), ref["format"], ref.get("info") or {})
    raise InvalidInput(f"runtime: unknown payload reference {describe(ref)}")


def cleanup(stores: Any, call_id: str, inputs_only: bool = False) -> None:
    """Delete the temporary objects of a call (or only its inputs, not ``result.*``)."""
    if stores is None:
        return
    prefix = tmp_prefix(call_id)
    keys = stores.objects.list(prefix)
    if inputs_only:
        keys = [k for k in keys if not k.rsplit("/", 1)[-1].startswith("result.")]
    if keys:
        stores.objects.delete(keys)
