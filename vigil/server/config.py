"""Settings of the collector server, checked once before anything starts.

Security by default: the server binds 127.0.0.1 unless told otherwise, and
any other address needs a token (``--token`` or ``VIGIL_TOKEN``) of at least
:data:`MIN_TOKEN_CHARS` characters; without one it refuses to start. With a
token, every endpoint except ``GET /api/v1/health`` needs
``Authorization: Bearer <token>``. The token is kept out of ``repr`` and logs.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError

MIN_TOKEN_CHARS = 16
DEFAULT_MAX_BODY_BYTES = 8 * 2**20
_LISTEN = {"localhost": "127.0.0.1", "loopback": "127.0.0.1", "all": "0.0.0.0"}


def resolve_host(listen: str) -> str:
    """The address to bind for ``--listen`` (``localhost``, ``all`` or an IP address).

    Examples
    --------
    >>> resolve_host('all'), resolve_host('localhost'), resolve_host('::1')
    ('0.0.0.0', '127.0.0.1', '::1')
    >>> resolve_host('example.org')
    Traceback (most recent call last):
    ...
    vigil.errors.ConfigError: --listen must be 'localhost', 'all' or an IP address; got 'example.org'
    """
    if listen in _LISTEN:
        return _LISTEN[listen]
    try:
        return str(ipaddress.ip_address(listen))
    except ValueError:
        raise ConfigError(f"--listen must be 'localhost', 'all' or an IP address; got {listen!r}") from None


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``vigil server`` can be told.

    Examples
    --------
    >>> ServerConfig(host='0.0.0.0').check()
    Traceback (most recent call last):
    ...
    vigil.errors.ConfigError: vigil server: listening on 0.0.0.0 (not loopback) needs a token: set VIGIL_TOKEN or pass --token (at least 16 characters); refusing to start without one
    >>> 'secret' in repr(ServerConfig(token='secret-secret-secret'))
    False
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    jsonl_dir: Path | None = None          # None: VIGIL_HOME/exports/jsonl
    jsonl: bool = True
    jsonl_rotate_s: float = 3600.0
    jsonl_max_bytes: int = 64 * 2**20
    prometheus_max_series: int = 10_000
    anomaly: bool = True
    alert_channels: Sequence[Any] = ("log",)
    alert_cooldown_s: float = 3600.0
    commit_timeout_s: float = 30.0
    commit_linger_s: float = 0.005         # group commit: wait this long for more windows
    ingest_threads: int = 2
    access_log: bool = False
    log_level: str = "info"

    @property
    def token_required(self) -> bool:
        return bool(self.token)

    def check(self) -> ServerConfig:
        """Raise :class:`~vigil.errors.ConfigError` for an unsafe or inconsistent configuration."""
        try:
            loopback = is_loopback(self.host)
        except ValueError:
            raise ConfigError(f"vigil server: host must be an IP address; got {self.host!r}") from None
        if not loopback and not self.token:
            raise ConfigError(
                f"vigil server: listening on {self.host} (not loopback) needs a token: set VIGIL_TOKEN "
                f"or pass --token (at least {MIN_TOKEN_CHARS} characters); refusing to start without one"
            )
        if self.token is not None and (len(self.token) < MIN_TOKEN_CHARS or not self.token.isprintable()
                                       or any(c.isspace() for c in self.token)):
            raise ConfigError(f"vigil server: the token must be at least {MIN_TOKEN_CHARS} printable "
                              f"characters without spaces; got one of {len(self.token)} characters")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"vigil server: port must be an int in 0..65535; got {self.port!r}")
        if not 1024 <= self.max_body_bytes <= 2**31:
            raise ConfigError(f"vigil server: max_body_bytes must be in [1 KiB, 2 GiB]; got {self.max_body_bytes}")
        if isinstance(self.ingest_threads, bool) or not isinstance(self.ingest_threads, int) \
                or not 1 <= self.ingest_threads <= 256:
            raise ConfigError(f"vigil server: ingest_threads must be an int in 1..256; got {self.ingest_threads!r}")
        if not 0.0 <= self.commit_linger_s <= 1.0:
            raise ConfigError(f"vigil server: commit_linger_s must be in [0, 1] seconds; got {self.commit_linger_s!r}")
        if not 1 <= self.prometheus_max_series <= 10_000_000:
            raise ConfigError("vigil server: prometheus_max_series must be in 1..10,000,000; "
                              f"got {self.prometheus_max_series}")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Settings from ``VIGIL_TOKEN`` / ``VIGIL_SERVER_MAX_BODY_BYTES`` plus explicit overrides.

        An explicit ``token=None`` override means "not given": the environment's token is used.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("VIGIL_TOKEN"):
            values["token"] = env["VIGIL_TOKEN"]
        raw = env.get("VIGIL_SERVER_MAX_BODY_BYTES")
        if raw:
            try:
                values["max_body_bytes"] = int(raw)
            except ValueError:
                raise ConfigError(f"VIGIL_SERVER_MAX_BODY_BYTES must be an int; got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if not (k == "token" and v is None)})
        return cls(**values).check()
