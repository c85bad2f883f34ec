"""The harness itself: Debian's chromium starts and reaches the live server."""

from __future__ import annotations

import json


def test_chromium_loads_health_from_the_live_server(page, ui_server, browser):
    # a JSON answer, not a dashboard page: the browser's own /favicon.ico request may 404 here
    response = page.goto(f"{ui_server}/api/v1/health")
    assert response is not None and response.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"
    assert "HeadlessChrome" in page.evaluate("navigator.userAgent") and browser.version
