"""Plain-text tables of the benchmark scripts (run as ``python bench/<script>.py``: this folder is on the path)."""

from __future__ import annotations


def align(lines: list[list[str]], right: set[int]) -> str:
    """Cells padded to their column's width (columns in ``right`` right-aligned), a rule under the header.

    >>> print(align([["name", "n"], ["a", "10"]], right={1}))
    name   n
    ----  --
    a     10
    """
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(c.rjust(w) if j in right else c.ljust(w)
                             for j, (c, w) in enumerate(zip(line, widths))).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
