"""The drift benchmark's data: 20 numeric + 2 categorical columns, a shift injected in 3.

Each worker process builds its own frames from fixed seeds, so every tool sees
identical values and every memory peak includes the same data. The numeric
block is allocated once, column-major, and handed to pandas without a copy:
each column is one contiguous float64 array, and building the frame costs no
transient second copy (the "data only" peak is the data, not its construction).

Shifts (current vs reference; every other column is drawn from the same
distribution on both sides, with independent seeds):

* ``x00``: normal, mean + 0.2 standard deviations;
* ``x01``: normal, standard deviation x 1.5 (variance x 2.25), same mean;
* ``c0``: 5 categories, 10 points of frequency moved from ``a`` to ``e``
  (total variation 0.10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMERIC = [f"x{i:02d}" for i in range(20)]
CATEGORICAL = ["c0", "c1"]
COLUMNS = NUMERIC + CATEGORICAL
SHIFTED = ["x00", "x01", "c0"]

C0_LABELS = ["a", "b", "c", "d", "e"]
C0_REFERENCE = [0.40, 0.25, 0.15, 0.12, 0.08]
C0_CURRENT = [0.30, 0.25, 0.15, 0.12, 0.18]
C1_LABELS = [f"k{j:02d}" for j in range(20)]
C1_P = (1.0 / np.arange(1, 21)) / (1.0 / np.arange(1, 21)).sum()  # Zipf-like, unshifted

# the shapes of the unshifted columns x02..x19, cycled: ties (poisson) and skew (lognormal) included
SHAPES = ["lognormal", "exponential", "uniform", "poisson", "normal"]

SEEDS = {"reference": 11, "current": 23}


def _numeric(rng: np.random.Generator, i: int, n: int, current: bool, out: np.ndarray) -> None:
    if i < 2:
        loc, scale = 10.0, 2.0
        if current and i == 0:
            loc += 0.2 * scale
        if current and i == 1:
            scale *= 1.5
        out[:] = rng.normal(loc, scale, n)
        return
    shape = SHAPES[(i - 2) % len(SHAPES)]
    k = 1.0 + 0.25 * i
    if shape == "lognormal":
        out[:] = rng.lognormal(0.0, 0.5, n) * k
    elif shape == "exponential":
        out[:] = rng.exponential(k, n)
    elif shape == "uniform":
        out[:] = rng.uniform(-k, k, n)
    elif shape == "poisson":
        out[:] = rng.poisson(k, n)
    else:
        out[:] = rng.normal(k, k, n)


def frame(n: int, side: str, seed_offset: int = 0) -> Any:
    """One side (``'reference'`` or ``'current'``) of ``n`` rows as a pandas DataFrame."""
    import pandas as pd

    if side not in SEEDS:
        raise ValueError(f"side must be 'reference' or 'current'; got {side!r}")
    current = side == "current"
    rng = np.random.default_rng([SEEDS[side], n, seed_offset])
    block = np.empty((len(NUMERIC), n), dtype=np.float64)  # row i = column i, contiguous
    for i in range(len(NUMERIC)):
        _numeric(rng, i, n, current, block[i])
    df = pd.DataFrame(block.T, columns=NUMERIC, copy=False)
    c0 = rng.choice(len(C0_LABELS), n, p=C0_CURRENT if current else C0_REFERENCE)
    df["c0"] = np.array(C0_LABELS, dtype=object)[c0]
    df["c1"] = np.array(C1_LABELS, dtype=object)[rng.choice(len(C1_LABELS), n, p=C1_P)]
    return df


def frames(n: int, seed_offset: int = 0) -> tuple[Any, Any]:
    """The reference and current frames of ``n`` rows each."""
    return frame(n, "reference", seed_offset), frame(n, "current", seed_offset)
