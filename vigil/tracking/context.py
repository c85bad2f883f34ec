"""The experiment active in this thread or task (set by ``with experiment:``)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_current: ContextVar[Any] = ContextVar("vigil_current_experiment", default=None)


def current_experiment() -> Any:
    """The innermost experiment whose ``with`` block is running here, or None."""
    return _current.get()


def enter(experiment: Any) -> Any:
    return _current.set(experiment)


def leave(token: Any) -> None:
    _current.reset(token)
