"""Monitor jobs: ``exp.track(model, monitor=True, schedule=..., alerts=...)``.

The job ``monitors/<experiment>/<model>`` runs the source :func:`render`
produces. Names are validated (:func:`~vigil.store.names.check_name`) and
inserted only as Python literals made by ``repr()``; alerts must be
JSON-able and go in as a literal too, checked with ``ast.literal_eval``.
No name ever lands in a comment or an f-string of the generated code, so
even a name that passed no validation cannot add a statement
(:func:`_render` holds on its own; tests feed it hostile names).
"""

from __future__ import annotations

import ast
import dataclasses
import json
from typing import Any

from vigil.errors import InvalidInput, describe
from vigil.store.names import check_name

_TEMPLATE = """\
# a drift monitor job, created by exp.track(..., monitor=True)
import vigil as om

# -- the name of the experiment
experiment = {experiment}
# -- the name of the model
name = {name}
# -- the name of the monitoring provider
provider = {provider}
# -- the alert rules
alerts = {alerts}

# snapshot recent state and capture drift
with om.runtime.model(name).experiment(experiment) as exp:
    mon = exp.as_monitor(name, store=om.models, provider=provider)
    mon.snapshot(since='last')
    if len(mon.snapshots()) > 1:  # the first snapshot is the baseline
        mon.capture(alerts=alerts)
"""


def job_name(experiment: str, model: str) -> str:
    """The name of the monitor job of ``model`` in ``experiment``.

    Examples
    --------
    >>> job_name('housing', 'california')
    'monitors/housing/california'
    """
    return check_name(f"monitors/{experiment}/{model}", "track", "monitor job name")


def _literal(value: Any) -> str:
    text = repr(value)
    if ast.literal_eval(text) != value:
        raise InvalidInput(f"track: {describe(value)} cannot be written as a Python literal")
    return text


def alerts_literal(alerts: Any) -> Any:
    """``alerts`` as plain JSON data (DriftRule objects become dicts); InvalidInput otherwise."""
    if alerts is None:
        return None

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {k: plain(x) for k, x in dataclasses.asdict(v).items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    try:
        return json.loads(json.dumps(plain(alerts), allow_nan=False))
    except (TypeError, ValueError):
        raise InvalidInput(f"track: alerts must be JSON-able rule specs ('drift', dicts of DriftRule fields, "
                           f"DriftRule objects with JSON-able fields); got {describe(alerts)}") from None


def _render(experiment: str, name: str, provider: str | None, alerts: Any) -> str:
    """The job source, with every value inserted as a checked literal (no validation of names)."""
    for value in (experiment, name):
        if not isinstance(value, str):
            raise InvalidInput(f"track: names must be str; got {describe(value)}")
    return _TEMPLATE.format(experiment=_literal(experiment), name=_literal(name),
                            provider=_literal(provider), alerts=_literal(alerts_literal(alerts)))


def render(experiment: str, name: str, provider: str | None = None, alerts: Any = None) -> str:
    """The source of the monitor job of model ``name`` in ``experiment``.

    Examples
    --------
    >>> src = render('housing', 'california', alerts=['drift'])
    >>> "name = 'california'" in src and "alerts = ['drift']" in src
    True
    """
    check_name(experiment, "track", "experiment")
    check_name(name, "track", "model")
    if provider is not None:
        check_name(provider, "track", "provider")
    if alerts is not None:
        from vigil.drift.rules import DriftRule

        specs = alerts_literal(alerts)
        for spec in specs if isinstance(specs, list) else [specs]:  # fail now, not when the job runs
            if isinstance(spec, dict):
                try:
                    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
                    DriftRule(**fields)
                except TypeError as exc:
                    raise InvalidInput(f"track: alerts has a rule with unknown fields ({exc})") from None
                except InvalidInput as exc:
                    raise InvalidInput(f"track: alerts has an invalid rule: {exc}") from None
            elif spec != "drift":
                raise InvalidInput(f"track: alerts must be 'drift', dicts of DriftRule fields or DriftRule "
                                   f"objects; got {describe(spec)}")
    return _render(experiment, name, provider, alerts)


def create_monitor_job(jobs: Any, experiment: str, name: str, provider: str | None = None,
                       alerts: Any = None, schedule: str | None = None) -> str:
    """Create (or update) the monitor job, schedule it if asked; returns the job's name."""
    job = job_name(experiment, name)
    source = render(experiment, name, provider, alerts)
    if schedule is not None:
        from vigil.runtime.schedule import to_cron

        to_cron(schedule)
    jobs.put(source, job, kind="monitor", experiment=experiment, model=name)
    if schedule is not None:
        jobs.schedule(job, schedule)
    return job
