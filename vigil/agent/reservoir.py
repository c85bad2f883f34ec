"""Reservoir sampling over a stream of batches (Algorithm R, vectorized).

Vitter's Algorithm R keeps the first ``k`` rows, then lets row ``i``
(0-based, ``i >= k``) replace the row in slot ``j`` when a uniform draw
``j`` in ``[0, i]`` falls below ``k``. After ``n`` rows every row is in the
sample with probability ``k / n``, whatever the batch sizes were.

The draws of a whole batch are made at once. Row ``i`` accepts with
probability ``k / (i + 1)`` independently of the others, as in the
sequential algorithm; when several rows of one batch pick the same slot
the last one wins, which is what the sequential loop would leave there.

:class:`Reservoir` only decides *where rows go*; the caller moves its own
arrays (probabilities, inputs, labels) with the indices it returns, so one
decision serves every part of a row.
"""

from __future__ import annotations

import numpy as np


class Reservoir:
    """Slots of a uniform sample of at most ``capacity`` rows.

    Parameters
    ----------
    capacity : int
        Most rows kept (``max_buffer_size`` of the agent).
    rng : numpy.random.Generator
        Source of the draws (seed it for reproducible samples).

    Examples
    --------
    >>> import numpy as np
    >>> r = Reservoir(3, np.random.default_rng(0))
    >>> slots, rows = r.update(2)          # the first rows fill the free slots in order
    >>> slots.tolist(), rows.tolist()
    ([0, 1], [0, 1])
    >>> slots, rows = r.update(100)
    >>> r.n, r.size, bool(np.all(slots < 3)), bool(np.all(rows < 100))
    (102, 3, True, True)
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = int(capacity)
        self.rng = rng
        self.n = 0

    @property
    def size(self) -> int:
        """Rows currently held: ``min(n, capacity)``."""
        return min(self.n, self.capacity)

    def is_empty(self) -> bool:
        return self.n == 0

    def update(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Offer the next ``m`` rows; returns ``(slots, rows)``.

        Row ``rows[i]`` of the batch (0-based within it) goes to slot
        ``slots[i]``. Slots are distinct, so ``buf[slots] = batch[rows]`` is
        well defined.
        """
        k, n = self.capacity, self.n
        self.n = n + m
        fill = max(0, min(m, k - n))
        fill_slots = np.arange(n, n + fill, dtype=np.intp)
        if fill == m:
            return fill_slots, np.arange(fill, dtype=np.intp)
        positions = np.arange(n + fill, n + m, dtype=np.int64)   # global index i of each row
        draws = self.rng.integers(0, positions + 1)              # uniform in [0, i]
        accepted = np.flatnonzero(draws < k)
        slots = np.concatenate([fill_slots, draws[accepted].astype(np.intp)])
        rows = np.concatenate([np.arange(fill, dtype=np.intp), accepted.astype(np.intp) + fill])
        if accepted.size > 1 or (fill and accepted.size):
            # keep the last row that picked each slot (the sequential algorithm's survivor)
            _, first_from_end = np.unique(slots[::-1], return_index=True)
            keep = np.sort(slots.size - 1 - first_from_end)
            slots, rows = slots[keep], rows[keep]
        return slots, rows
