"""``om.jobs``: named Python scripts, versioned in the metadata store.

This floor keeps and lists job sources; running and scheduling them is the
job of the runtime's executors (see the roadmap in the README).
"""

from __future__ import annotations

import ast
import time
from typing import Any

from vigil.errors import NotFound, invalid
from vigil.store.names import check_name

KIND = "job"


class Jobs:
    """Put, get, list and drop job scripts.

    Examples
    --------
    >>> import vigil as om
    >>> om.jobs.put("print('hello')", 'doc-job')['version'] >= 1
    True
    >>> om.jobs.get('doc-job')
    "print('hello')"
    """

    def __init__(self, stores: Any) -> None:
        self.stores = stores

    def put(self, source: str, name: str, **attributes: Any) -> dict[str, Any]:
        check_name(name, "jobs.put", "name")
        if not isinstance(source, str):
            raise invalid("jobs.put", "source", source, "Python source code as a str")
        try:
            ast.parse(source)
        except SyntaxError as exc:
            raise invalid("jobs.put", "source", source, f"valid Python ({exc.msg} at line {exc.lineno})") from None
        record = {"source": source, "attributes": attributes, "updated": time.time()}
        return {**record, "name": name, "version": self.stores.events.put_meta(KIND, name, record)}

    def get(self, name: str) -> str:
        return self.metadata(name)["source"]

    def metadata(self, name: str) -> dict[str, Any]:
        check_name(name, "jobs.get", "name")
        meta = self.stores.events.find_meta(KIND, name)
        if meta is None:
            raise NotFound(f"job {name!r} does not exist")
        return meta

    def list(self, prefix: str = "") -> list[str]:
        return [m["name"] for m in self.stores.events.list_meta(KIND, prefix)]

    def drop(self, name: str, force: bool = False) -> bool:
        check_name(name, "jobs.drop", "name")
        if self.stores.events.find_meta(KIND, name) is None:
            if force:
                return False
            raise NotFound(f"job {name!r} does not exist")
        self.stores.events.drop_meta(KIND, name)
        return True
