"""The web dashboard of ``vigil server`` (L3): pages at ``/``, their JSON under ``/api/v1/ui/``.

:mod:`~vigil.server.ui.catalog` reads the workspace; :mod:`~vigil.server.ui.routes`
renders it (Jinja2 templates, Plotly.js from the installed ``plotly`` package).
"""
