"""The spool: closed windows waiting to be delivered, one JSON file each.

Every closed window is written here first (write-ahead) and deleted once
the collector (or the store) has it, so a window survives a collector
outage, an agent crash (``kill -9``) and a restart: a new agent with the
same ``agent_id`` delivers what the old one left, in order.

- Location: ``$VIGIL_HOME/spool/agent-<agent_id>/`` unless ``spool_dir=`` says otherwise.
- Names: ``<start ms, 15 digits>-<time ns, 19 digits>.json``: sorting the
  names sorts the windows by start, and a restarted agent never overwrites
  a window of its predecessor.
- Atomic: written to a hidden temporary file, fsynced, then renamed (a
  complete temporary file left by a crash is renamed at the next start).
- Bounded: at most ``max_files`` files and ``max_bytes`` bytes. A new
  window that would exceed either bound first deletes the OLDEST windows
  (they are the least useful for live monitoring and the most likely to be
  stale); each deletion is counted as ``spool_evicted``. The newest window
  is always kept.
- If the folder cannot be written (disk full, read-only), windows are kept
  in memory under the same bounds until the process ends.
- ``.last-closed`` holds the start of the last window closed by an agent of
  this id. An agent restarted within that window's period counts its rows in
  the next window: a second window with the same ``window_id`` would be
  dropped by the collector as a duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

logger = logging.getLogger("vigil.agent")

_SUFFIX = ".json"
_STALE_TMP_S = 300.0
_LAST_CLOSED = ".last-closed"


def _complete_json(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            json.loads(fh.read())
        return True
    except (OSError, ValueError):
        return False


class Spool:
    """Window files in one folder, oldest first.

    Parameters
    ----------
    folder : path-like
    max_files : int
    max_bytes : int

    Examples
    --------
    >>> import tempfile
    >>> spool = Spool(tempfile.mkdtemp(), max_files=2, max_bytes=10_000)
    >>> for start in (3000, 1000, 2000):
    ...     _ = spool.write(start, b'{}')
    >>> [name[:15] for name in spool.names()]     # the oldest (1000) was evicted
    ['000000000002000', '000000000003000']
    >>> spool.evicted
    1
    """

    def __init__(self, folder: str | os.PathLike, max_files: int, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.evicted = 0                      # windows deleted to respect the bounds
        self._memory: dict[str, bytes] = {}   # fallback when the folder cannot be written
        self._lock = threading.Lock()
        self._opened = False

    def open(self) -> None:
        """Create the folder and settle the temporary files left by a crash.

        A temporary window file that holds complete JSON was cut between its
        fsync and its rename: it is renamed into place (the window is kept).
        Other temporary files are deleted once older than five minutes.
        """
        if self._opened:
            return
        self._opened = True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            now = time.time()
            for entry in os.scandir(self.folder):
                if not entry.name.startswith(".tmp-"):
                    continue
                final = entry.name[len(".tmp-"):]
                if final.endswith(_SUFFIX) and _complete_json(entry.path):
                    os.replace(entry.path, self.folder / final)
                elif now - entry.stat().st_mtime > _STALE_TMP_S:
                    os.unlink(entry.path)
        except OSError as exc:
            logger.warning("vigil agent: cannot prepare the spool folder %s (%s); windows are kept in "
                           "memory until it works", self.folder, exc)

    def _entries(self) -> list[tuple[str, int]]:
        found: dict[str, int] = {}
        try:
            for entry in os.scandir(self.folder):
                name = entry.name
                if name.endswith(_SUFFIX) and not name.startswith("."):
                    try:
                        found[name] = entry.stat().st_size
                    except FileNotFoundError:
                        pass
        except OSError:
            pass
        for name, body in self._memory.items():
            found[name] = len(body)
        return sorted(found.items())

    def names(self) -> list[str]:
        """Names of the spooled windows, oldest first."""
        with self._lock:
            return [name for name, _ in self._entries()]

    def __len__(self) -> int:
        return len(self.names())

    def write(self, start_ms: int, body: bytes) -> str:
        """Spool one window; returns its name. Evicts the oldest windows beyond the bounds."""
        self.open()
        name = f"{start_ms:015d}-{time.time_ns():019d}{_SUFFIX}"
        with self._lock:
            try:
                tmp = self.folder / f".tmp-{name}"
                with open(tmp, "wb") as fh:
                    fh.write(body)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.folder / name)
            except OSError as exc:
                logger.warning("vigil agent: cannot write the spool file %s (%s); kept in memory",
                               self.folder / name, exc)
                self._memory[name] = body
            self._evict(keep=name)
        return name

    def _evict(self, keep: str) -> None:
        entries = self._entries()
        files, size = len(entries), sum(s for _, s in entries)
        for name, s in entries:
            if files <= self.max_files and size <= self.max_bytes:
                break
            if name == keep:
                continue
            self._delete(name)
            self.evicted += 1
            files -= 1
            size -= s

    def last_closed(self) -> int | None:
        """Start (epoch ms) of the last window an agent of this spool closed, if known."""
        try:
            return int((self.folder / _LAST_CLOSED).read_text().strip())
        except (OSError, ValueError):
            return None

    def set_last_closed(self, start_ms: int) -> None:
        """Record the start of the window just closed (atomically; failures are ignored)."""
        tmp = self.folder / f".tmp-{_LAST_CLOSED}-{time.time_ns()}"
        try:
            tmp.write_text(str(int(start_ms)))
            os.replace(tmp, self.folder / _LAST_CLOSED)
        except OSError:
            pass

    def read(self, name: str) -> bytes | None:
        """The body of a spooled window, or None if it is gone."""
        body = self._memory.get(name)
        if body is not None:
            return body
        try:
            return (self.folder / name).read_bytes()
        except OSError:
            return None

    def remove(self, name: str) -> None:
        """Delete a delivered window (missing is fine)."""
        with self._lock:
            self._delete(name)

    def _delete(self, name: str) -> None:
        if self._memory.pop(name, None) is not None:
            return
        try:
            os.unlink(self.folder / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("vigil agent: cannot delete the spool file %s (%s)", self.folder / name, exc)
