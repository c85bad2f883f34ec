"""The runtime's CLI subcommands (vigil/runtime_cli.py): models, datasets, jobs, scheduler."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import vigil as om
from vigil.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_and_datasets(capsys):
    from sklearn.linear_model import LinearRegression

    om.models.put(LinearRegression(), "lin")
    om.models.link("lin", "exp-a")
    om.datasets.put(pd.DataFrame({"x": [1, 2, 3]}), "frame")
    om.reload()
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [(r["name"], r["version"], r["links"]) for r in rows] == [("lin", 1, "exp-a")]
    code, out, _ = run(capsys, "models", "show", "lin")
    assert code == 0 and "LinearRegression" in out and "exp-a" in out
    code, out, _ = run(capsys, "datasets", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "frame"
    code, out, _ = run(capsys, "datasets", "show", "frame")
    assert code == 0 and "parquet" in out


def test_jobs_commands(capsys):
    om.jobs.put("print('hello')", "greet")
    om.jobs.put("raise RuntimeError('nope')", "broken")
    om.reload()
    code, out, _ = run(capsys, "jobs", "schedule", "greet", "daily at 06:00")
    assert code == 0 and "0 6 * * *" in out
    code, out, _ = run(capsys, "jobs", "list", "--json")
    assert [(r["name"], r["cron"]) for r in json.loads(out)] == [("broken", None), ("greet", "0 6 * * *")]
    code, out, _ = run(capsys, "jobs", "run", "greet")
    assert code == 0 and "hello" in out and "ok" in out
    code, out, _ = run(capsys, "jobs", "run", "broken")
    assert code == 1 and "RuntimeError: nope" in out
    code, out, _ = run(capsys, "jobs", "history", "greet", "--json")
    assert [r["status"] for r in json.loads(out)] == ["ok"]
    code, out, _ = run(capsys, "jobs", "unschedule", "greet")
    assert code == 0


@pytest.mark.parametrize("argv, message", [
    (["jobs", "run", "absent"], "NotFound: job 'absent' does not exist"),
    (["models", "show", "absent"], "NotFound"),
    (["jobs", "schedule", "absent", "daily"], "NotFound"),
    (["models", "show", "../x"], "InvalidInput"),
])
def test_errors_exit_1_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_usage_errors_exit_2(capsys):
    code, _, err = run(capsys, "jobs", "run")
    assert code == 2 and "NAME" in err
    code, _, err = run(capsys, "scheduler", "--once", "--now", "yesterday")
    assert code == 2 and "--now" in err
