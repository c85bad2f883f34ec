"""L1: exports of metric points to files and to other monitoring systems.

* :mod:`vigil.export.jsonl` -- rotating JSON Lines files, one record per point.
* :mod:`vigil.export.anodot` -- send JSON Lines records to Anodot (metrics 2.0).

Standard library only; nothing here imports the stores or the server.
"""
