"""Settings: one frozen object, read from the environment once.

=============================  ==========================================  ============================
variable                       meaning                                     default
=============================  ==========================================  ============================
``VIGIL_HOME``                 folder of the embedded default              ``~/.vigil``
``VIGIL_STORE_URL``            event/metadata store                        ``sqlite:///$VIGIL_HOME/vigil.db``
``VIGIL_ARTIFACTS_URL``        object store (any fsspec URL)               ``file://$VIGIL_HOME/artifacts``
``VIGIL_ARTIFACTS_OPTIONS``    JSON of fsspec storage options              ``{}``
``VIGIL_TRACKING_PROVIDERS``   plugins, ``name=module:Class,...``          empty
``VIGIL_FLUSH_INTERVAL_MS``    write-behind interval of event logging      ``50``
``VIGIL_PROFILING_INTERVAL_S`` sampling interval of the profiling provider ``1.0``
``VIGIL_USERID``               user recorded on events                     the login name
=============================  ==========================================  ============================
"""

from __future__ import annotations

import functools
import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vigil.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """Immutable configuration of a vigil workspace.

    Examples
    --------
    >>> s = Settings.from_env({'VIGIL_HOME': '/tmp/vh'})
    >>> s.store_url
    'sqlite:////tmp/vh/vigil.db'
    >>> s.artifacts_url
    'file:///tmp/vh/artifacts'
    """

    home: Path
    store_url: str
    artifacts_url: str
    artifacts_options: Mapping[str, object] = field(default_factory=dict)
    tracking_providers: str = ""
    flush_interval_ms: int = 50
    profiling_interval_s: float = 1.0
    userid: str = "unknown"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("VIGIL_HOME") or Path.home() / ".vigil").expanduser().absolute()
        store_url = env.get("VIGIL_STORE_URL") or f"sqlite:///{home / 'vigil.db'}"
        artifacts_url = env.get("VIGIL_ARTIFACTS_URL") or f"file://{home / 'artifacts'}"
        try:
            options = json.loads(env.get("VIGIL_ARTIFACTS_OPTIONS") or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"VIGIL_ARTIFACTS_OPTIONS must be a JSON object; {exc}") from None
        if not isinstance(options, dict):
            raise ConfigError(f"VIGIL_ARTIFACTS_OPTIONS must be a JSON object; got {options!r}")
        return cls(
            home=home,
            store_url=store_url,
            artifacts_url=artifacts_url,
            artifacts_options=options,
            tracking_providers=env.get("VIGIL_TRACKING_PROVIDERS", ""),
            flush_interval_ms=_number(env, "VIGIL_FLUSH_INTERVAL_MS", 50, int, 1, 100),
            profiling_interval_s=_number(env, "VIGIL_PROFILING_INTERVAL_S", 1.0, float, 0.01, 3600),
            userid=env.get("VIGIL_USERID") or _login(),
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def _number(env: Mapping[str, str], name: str, default, kind, low, high):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__} in [{low}, {high}]; got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a {kind.__name__} in [{low}, {high}]; got {raw!r}")
    return value


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()


def reload() -> Settings:
    """Forget the cached settings and read the environment again.

    :func:`vigil.reload` also closes the default stores; use that one.
    """
    settings.cache_clear()
    return settings()
