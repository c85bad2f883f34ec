"""Figures and standalone reports of a drift comparison (matplotlib, inline HTML)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from typing import Any

import numpy as np

from vigil.drift.compare import DriftResult
from vigil.profile.frame import FrameProfile


def _shares(prof: Any) -> tuple[list[str], np.ndarray]:
    if prof.kind == "numeric":
        edges = prof.edges
        labels = [f"< {edges[0]:.3g}"] + [f"{edges[k]:.3g}" for k in range(len(edges) - 1)] + [f">= {edges[-1]:.3g}"]
        counts = prof.bins.astype(float)
    else:
        labels, counts = prof.buckets()
        counts = counts.astype(float)
    total = counts.sum()
    return labels, counts / total if total else counts


def plot_result(result: DriftResult, baseline: FrameProfile, target: FrameProfile, max_columns: int = 12,
                title: str = "drift") -> Any:
    """Per-column distributions (baseline vs target shares per bin/category) and effect sizes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = result.columns
    if len(cols):
        effect = cols["effect"].astype(float).fillna(0.0) if "effect" in cols else 0.0  # absent: no tests
        cols = cols.assign(_order=cols["drift"].astype(bool).astype(int) * 10 + effect)
        cols = cols.sort_values("_order", ascending=False)
    names = [c for c in cols["column"].tolist() if c in baseline.columns][:max_columns] if len(cols) else []
    panels = len(names) + 1
    ncols = min(3, panels)
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.2 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, name in zip(flat, names):
        labels, pa = _shares(baseline[name])
        _, pb = _shares(target[name])
        if baseline[name].kind == "numeric":
            edges = baseline[name].edges
            width = np.diff(edges)
            ax.stairs(pa[1:-1] / width, edges, label=result.labels[0], color="#4c72b0")
            ax.stairs(pb[1:-1] / width, edges, label=result.labels[1], color="#dd8452")
            outside = pb[0] + pb[-1]
            if outside > 0:
                ax.text(0.02, 0.95, f"outside baseline range: {outside:.1%}", transform=ax.transAxes,
                        fontsize=7, va="top")
            ax.set_ylabel("density", fontsize=8)
        else:
            shown = np.argsort(-(pa + pb))[:12]
            ax.bar(np.arange(len(shown)) - 0.2, pa[shown], 0.4, label=result.labels[0], color="#4c72b0")
            ax.bar(np.arange(len(shown)) + 0.2, pb[shown], 0.4, label=result.labels[1], color="#dd8452")
            ax.set_xticks(np.arange(len(shown)), [labels[i][:10] for i in shown], rotation=45, fontsize=7)
        row = cols[cols["column"] == name].iloc[0]
        flag = f"DRIFT [{row['tests_flagged']}]" if bool(row["drift"]) else "ok"
        ax.set_title(f"{name}: {flag} ({row.get('effect_name', '')} {row.get('effect', float('nan')):.3g})",
                     fontsize=9, color="#c44e52" if bool(row["drift"]) else "black")
        if baseline[name].kind != "numeric":
            ax.set_ylabel("share", fontsize=8)
        ax.legend(fontsize=7)
    ax = flat[len(names)]
    dist = result.df[result.df["test"] == "distribution"] if len(result.df) else result.df
    if len(dist):
        ratio = (dist["effect"] / dist["min_effect"].replace(0, np.nan)).fillna(0).to_numpy()
        colors = ["#c44e52" if d else "#8c8c8c" for d in dist["drift"]]
        ax.barh(np.arange(len(dist)), ratio, color=colors)
        ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
        ax.set_yticks(np.arange(len(dist)), dist["column"].tolist(), fontsize=7)
        ax.set_xlabel("effect / minimum effect (drift when >= 1 and significant)", fontsize=8)
    ax.set_title("effect sizes", fontsize=9)
    for extra in flat[len(names) + 1:]:
        extra.axis("off")
    verdict = "DRIFT" if result.drift else "no drift"
    fig.suptitle(f"{title}: {verdict} (Simes p = {result.p_value:.3g})", fontsize=11)
    fig.tight_layout()
    return fig


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(float(v)) else f"{float(v):.4g}"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return html.escape("" if v is None else str(v))


def _table(frame: Any, columns: list[str]) -> str:
    cols = [c for c in columns if c in frame]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, row in frame.iterrows():
        cls = ' class="drift"' if bool(row.get("drift", False)) else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_cell(row[c])}</td>" for c in cols) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}
.verdict{padding:.6em 1em;border-radius:6px;display:inline-block;font-weight:600}
.yes{background:#fde2e1;color:#8b1a1a}.no{background:#e3f4e1;color:#1d5c1d}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}tr.drift td{background:#fff3f2}
.note{color:#666;font-size:.85em}img{max-width:100%}"""


def render(result: DriftResult, baseline: FrameProfile, target: FrameProfile, format: str = "html",
           title: str = "drift report") -> Any:
    """The comparison as ``'dict'``, ``'json'`` text or a standalone ``'html'`` page."""
    data = result.to_dict()
    data["title"] = title
    if format == "dict":
        return data
    if format == "json":
        return json.dumps(data, indent=1, default=str)
    img = _png(plot_result(result, baseline, target, title=title))
    th = result.thresholds
    verdict = "yes" if result.drift else "no"
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in result.notes)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p><span class="verdict {verdict}">dataset drift: {'YES' if result.drift else 'no'}</span>
&nbsp; Simes p = {result.p_value:.3g} &nbsp; {html.escape(result.labels[0])}: {result.n_baseline} rows,
{html.escape(result.labels[1])}: {result.n_target} rows</p>
<p class="note">A test flags drift when its Benjamini-Hochberg adjusted p-value is &le; {th.alpha} and its effect
reaches the minimum: KS D &ge; {th.min_ks} (numeric), total variation &ge; {th.min_tv} (categorical),
missing-rate change &ge; {th.min_missing}, new-category mass &ge; {th.min_new}.</p>{notes}
<h2>Columns</h2>{_table(result.columns, ['column', 'kind', 'drift', 'tests_flagged', 'effect_name', 'effect',
                                          'ci_low', 'ci_high', 'p_value', 'p_adjusted', 'wasserstein_norm', 'psi', 'js'])}
<h2>Distributions</h2><img alt="distributions" src="data:image/png;base64,{img}">
<h2>All tests</h2>{_table(result.df, ['column', 'test', 'statistic', 'effect_name', 'effect', 'ci_low', 'ci_high',
                                      'p_value', 'p_adjusted', 'min_effect', 'n_baseline', 'n_target', 'drift'])}
</body></html>"""
