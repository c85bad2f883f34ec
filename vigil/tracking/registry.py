"""Tracking providers by name.

Looked up in order: the built-ins (``default``, ``profiling``, ``notrack``),
then ``VIGIL_TRACKING_PROVIDERS`` (``name=module:Class,...``), then the
entry-point group ``vigil.tracking_providers``. A provider is a subclass of
:class:`vigil.tracking.provider.TrackingProvider`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from vigil.config import settings
from vigil.errors import ConfigError
from vigil.tracking.provider import TrackingProvider

BUILTIN = {
    "default": "vigil.tracking.provider:DefaultProvider",
    "profiling": "vigil.tracking.profiling:ProfilingProvider",
    "notrack": "vigil.tracking.provider:NoTrackProvider",
}


def _from_env(spec: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, target = item.partition("=")
        if not sep or ":" not in target or not name.strip():
            raise ConfigError(
                f"VIGIL_TRACKING_PROVIDERS: entries must look like name=module:Class; got {item!r}"
            )
        out[name.strip()] = target.strip()
    return out


def known_providers() -> dict[str, str]:
    """Every provider name and where its class lives."""
    known = dict(BUILTIN)
    for name, target in _from_env(settings().tracking_providers).items():
        known.setdefault(name, target)
    for ep in entry_points(group="vigil.tracking_providers"):
        known.setdefault(ep.name, ep.value)
    return known


def provider_class(name: str) -> type[TrackingProvider]:
    """The class registered under ``name``.

    Examples
    --------
    >>> provider_class('notrack').__name__
    'NoTrackProvider'
    >>> provider_class('nope')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: experiment: provider must be one of default, notrack, profiling; got 'nope' (str)
    """
    known = known_providers()
    if not isinstance(name, str) or name not in known:
        from vigil.errors import invalid

        raise invalid("experiment", "provider", name, "one of " + ", ".join(sorted(known)))
    module, _, attr = known[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"tracking provider {name!r}: cannot load {known[name]!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, TrackingProvider)):
        raise ConfigError(f"tracking provider {name!r}: {known[name]!r} is not a TrackingProvider subclass")
    return cls


__all__ = ["BUILTIN", "known_providers", "provider_class"]
