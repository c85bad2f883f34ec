"""The exception tree of vigil.

Every error raised on purpose by vigil derives from :class:`VigilError`::

    VigilError
    ├── InvalidInput        (also a ValueError)   bad argument at a public boundary
    ├── NotFound            (also a LookupError)  a named thing does not exist
    ├── ConfigError                               bad or inconsistent settings
    ├── StoreError                                a backend failed to read or write
    │   ├── StoreConflict                         a concurrent write took the same unique key
    │   └── UnsafeSerialization                   stored bytes need an explicit opt-in
    ├── TransportError                            a remote peer could not be reached
    └── MissingDependency   (also an ImportError) an optional extra is not installed

Messages name who asked, the argument, the value found and what was expected.
"""

from __future__ import annotations

from typing import Any


class VigilError(Exception):
    """Root of every error raised on purpose by vigil."""


class InvalidInput(VigilError, ValueError):
    """An argument at a public boundary is malformed."""


class NotFound(VigilError, LookupError):
    """A named object (experiment, run, artifact, dataset ...) does not exist."""


class ConfigError(VigilError):
    """Settings are missing, malformed or inconsistent."""


class StoreError(VigilError):
    """A storage backend could not complete a read or a write."""


class StoreFull(StoreError):
    """The store is out of space (a full disk, a file-size limit): writes fail until space returns."""


class StoreConflict(StoreError):
    """A write collided with a concurrent one (a unique key was taken): retrying may succeed."""


class UnsafeSerialization(StoreError):
    """Stored bytes would need an unsafe loader (pickle) the caller did not opt into."""


class TransportError(VigilError):
    """A remote peer (server, broker) could not be reached or answered badly."""


class MissingDependency(VigilError, ImportError):
    """An optional dependency is missing; the message names the pip extra."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        why = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is needed{why} but is not installed; "
            f"install it with: pip install 'vigil-ml[{extra}]'"
        )
        self.package = package
        self.extra = extra


def describe(value: Any, limit: int = 80) -> str:
    """A short, safe rendering of a value for error messages.

    Examples
    --------
    >>> describe(3)
    '3 (int)'
    >>> describe('x' * 100)[:12]
    "'xxxxxxxxxxx"
    """
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


def invalid(who: str, arg: str, value: Any, expected: str) -> InvalidInput:
    """Build the standard InvalidInput message.

    Examples
    --------
    >>> str(invalid('log_metric', 'value', 'a', 'a real number'))
    "log_metric: value must be a real number; got 'a' (str)"
    """
    return InvalidInput(f"{who}: {arg} must be {expected}; got {describe(value)}")
