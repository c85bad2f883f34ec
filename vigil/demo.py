"""``make demo`` / ``vigil demo``: an end-to-end tracking story on the embedded default.

Trains a small classifier on scikit-learn's bundled digits dataset over three
runs (one hyper-parameter each), logs parameters, per-epoch metrics, the test
data and the fitted model, then reads everything back: the runs table, the
best run, and the best model restored from the artifact store and re-scored.
"""

from __future__ import annotations

import time
from typing import Any

EXPERIMENT = "demo/digits-classifier"
ALPHAS = (1.0, 0.01, 0.0001)
EPOCHS = 25


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return Console(width=max(console.width, 120))


def train_runs(exp_name: str = EXPERIMENT, epochs: int = EPOCHS, progress: bool = True) -> Any:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import vigil as om

    X, y = load_digits(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    classes = np.unique(y)
    exp = om.runtime.experiment(exp_name)
    exp.clear(force=True)  # the demo starts from a clean experiment each time

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("training", total=len(ALPHAS) * epochs)
        for alpha in ALPHAS:
            with om.runtime.experiment(exp_name) as exp:
                exp.log_param("alpha", alpha)
                exp.log_param("epochs", epochs)
                exp.log_param("model", "StandardScaler + SGDClassifier(log_loss)")
                exp.log_system()
                scaler = StandardScaler().fit(X_train)
                clf = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
                Xs_train, Xs_test = scaler.transform(X_train), scaler.transform(X_test)
                for epoch in range(epochs):
                    clf.partial_fit(Xs_train, y_train, classes=classes)
                    exp.log_metrics({
                        "train_accuracy": accuracy_score(y_train, clf.predict(Xs_train)),
                        "val_accuracy": accuracy_score(y_test, clf.predict(Xs_test)),
                        "val_log_loss": log_loss(y_test, clf.predict_proba(Xs_test), labels=classes),
                    }, step=epoch)
                    bar.advance(task)
                pipe = make_pipeline(scaler, clf)
                exp.log_metric("val_f1_macro", f1_score(y_test, pipe.predict(X_test), average="macro"))
                exp.log_data("test", {"X": X_test, "y": y_test.to_numpy()})
                exp.log_artifact(pipe, "model")
    return exp


def summarize(exp: Any) -> dict[str, Any]:
    """Read everything back; return the figures the demo prints."""
    import pandas as pd
    from sklearn.metrics import accuracy_score

    runs = exp.runs()
    events = exp.data(run="all")
    params = events[events.event == "param"].pivot(index="run", columns="key", values="value")
    metrics = events[events.event == "metric"]
    last = metrics.sort_values("dt").groupby(["run", "key"])["value"].last().unstack()
    best = metrics[metrics.key == "val_accuracy"].groupby("run")["value"].max()
    table = pd.concat([runs.set_index("run")[["status", "duration_s"]], params[["alpha"]], last], axis=1)
    best_run = int(last["val_accuracy"].idxmax())
    model = exp.restore_artifact("model", run=best_run)
    test = exp.restore_data("test", run=best_run)
    rescored = accuracy_score(test["y"], model.predict(test["X"]))
    return {"table": table, "best_run": best_run, "best_epoch_accuracy": best,
            "rescored": rescored, "logged": float(last.loc[best_run, "val_accuracy"]),
            "events": len(events), "event_counts": events.groupby("event").size().to_dict()}


def drift_demo(console: Any) -> bool:
    """Monitor the digits features: a clean week, then a week with a broken sensor row."""
    import numpy as np
    from sklearn.datasets import load_digits

    from vigil.config import settings
    from vigil.drift import DataDriftMonitor

    X, _ = load_digits(return_X_y=True, as_frame=True)
    X = X.loc[:, X.std() > 0]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    baseline, clean, shifted = X.iloc[order[:900]], X.iloc[order[900:1350]], X.iloc[order[1350:]].copy()
    broken = [c for c in ("pixel_2_4", "pixel_3_3", "pixel_5_2") if c in shifted]
    shifted[broken] = 16 - shifted[broken]          # three pixels read inverted
    mon = DataDriftMonitor("demo/digits-features", experiment="demo/digits-drift", thresholds={"min_ks": 0.1})
    mon.experiment.clear(force=True)
    mon.snapshot(baseline, label="training data")
    mon.snapshot(clean, label="clean week")
    mon.snapshot(shifted, label="broken sensor week")
    clean_result, shifted_result = mon.compare("series")
    console.rule("[bold]vigil demo: data drift")
    console.print(f"{X.shape[1]} pixel features, {len(baseline)} baseline rows; inverted pixels: {broken}")
    console.print(f"clean week vs baseline: drift = {clean_result.drift} (Simes p = {clean_result.p_value:.3g})")
    console.print(f"broken week vs baseline: drift = {shifted_result.drift}, "
                  f"columns flagged: {shifted_result.drifted_columns}")
    path = settings().home / "reports" / "digits-drift.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    mon.report("html", seq="baseline", path=path)
    captured = mon.capture(seq="baseline")
    console.print(f"HTML report: {path}  |  alerts delivered: {len(captured.alerts)}")
    return (not clean_result.drift) and set(broken) <= set(shifted_result.drifted_columns)


STORIES = ("tracking", "drift", "runtime", "agent")


def dashboard_check(console: Any) -> int:
    """Render the dashboard's pages over the demo's data in-process; the number that answered 200."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette's note about httpx (its own warning class)
            from fastapi.testclient import TestClient
        from vigil.server.app import create_app
        from vigil.server.config import ServerConfig
    except ImportError:
        console.print("dashboard: not installed (pip install 'vigil-ml[server]')")
        return 0
    from urllib.parse import quote

    paths = ["/", "/experiments", f"/experiment?name={quote(EXPERIMENT)}", "/drift", "/agents", "/models",
             "/datasets", "/jobs", "/alerts"]
    ok = 0
    with TestClient(create_app(ServerConfig(alert_channels=(), jsonl=False, anomaly=False))) as client:
        for path in paths:
            status = client.get(path).status_code
            ok += status == 200
            if status != 200:
                console.print(f"[red]dashboard page {path} answered {status}")
    return ok


def run_demo(stories: tuple[str, ...] = STORIES) -> int:
    """Run the demo stories (all by default); 0 when every story held."""
    import vigil as om
    from vigil.config import settings

    console = _console()
    cfg = settings()
    console.print(f"store: {cfg.store_url}\nartifacts: {cfg.artifacts_url}")
    started = time.perf_counter()
    held: dict[str, bool] = {}
    if "tracking" in stories:
        held["tracking"] = tracking_demo(console)
    if "drift" in stories:
        held["drift"] = drift_demo(console)
    if "runtime" in stories:
        from vigil.demo_runtime import runtime_demo

        held["runtime"] = runtime_demo(console)
    if "agent" in stories:
        from vigil.demo_agent import agent_demo

        held["agent"] = agent_demo(console)
    pages = dashboard_check(console)
    ping = om.runtime.ping()
    console.rule("[bold]vigil demo: summary")
    for story, ok in held.items():
        console.print(f"{story}: " + ("[green]the story held" if ok else "[red]the story did NOT hold"))
    console.print(f"runtime node {ping['node']}, python {ping['python']}; done in "
                  f"{time.perf_counter() - started:.1f}s. Explore with: vigil experiments list  |  "
                  f"vigil experiments show {EXPERIMENT}  |  vigil jobs list")
    if pages:
        console.print(f"[bold]dashboard with this data:[/bold] run [cyan]vigil ui[/cyan] (or .venv/bin/vigil ui), "
                      f"then open [link]http://127.0.0.1:8000/[/link]  ({pages} pages checked)")
    return 0 if all(held.values()) else 1


def tracking_demo(console: Any) -> bool:
    """Three training runs logged, read back, the best model restored and re-scored."""
    from rich.table import Table

    console.rule("[bold]vigil demo: experiment tracking")
    exp = train_runs()
    summary = summarize(exp)
    table = Table(title=f"runs of {EXPERIMENT!r}")
    for col in ["run", *summary["table"].columns]:
        table.add_column(str(col))
    for run, row in summary["table"].iterrows():
        table.add_row(str(run), *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    console.print(f"events logged: {summary['events']} {summary['event_counts']}")
    console.print(f"best run: {summary['best_run']} (final val_accuracy {summary['logged']:.4f})")
    same = abs(summary["rescored"] - summary["logged"]) < 1e-9
    console.print(f"model restored from the artifact store, re-scored on the restored test data: "
                  f"accuracy {summary['rescored']:.4f} "
                  + ("[green](matches the logged value)" if same else "[red](differs from the logged value!)"))
    return same
