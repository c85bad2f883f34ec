"""Signing in to a token-protected dashboard, in the browser and over plain HTTP."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.server.ui.conftest import TOKEN, clean_console, shot

pytestmark = pytest.mark.usefixtures("ui_data")
API = "/api/v1/ui/experiments"


def path_of(page) -> str:
    return urlsplit(page.url).path


def sign_in(page, token: str) -> None:
    page.fill("form#login input[name=token]", token)
    with page.expect_navigation():
        page.locator("form#login").evaluate("f => f.requestSubmit()")


def test_json_api_needs_the_token(ui_server_token):
    with httpx.Client(base_url=ui_server_token, timeout=30) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert client.get(API).status_code == 401
        assert client.get(API, headers={"Authorization": "Bearer " + "y" * 24}).status_code == 401
        answer = client.get(API, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
    with httpx.Client(base_url=ui_server_token, timeout=30, cookies={"vigil_session": "f" * 64}) as forged:
        assert forged.get(API).status_code == 401


def test_pages_redirect_to_login(page, ui_server_token, console_errors):
    page.goto(f"{ui_server_token}/")
    assert path_of(page) == "/login"
    assert page.locator("form#login input[name=token]").count() == 1
    assert TOKEN not in page.content()
    shot(page, "login")
    clean_console(console_errors, page)


def test_wrong_token_shows_an_error_and_stays(page, ui_server_token, console_errors):
    page.goto(f"{ui_server_token}/login")
    sign_in(page, "w" * 24)
    assert path_of(page) == "/login"
    assert page.locator(".error").first.is_visible()
    assert not [c for c in page.context.cookies() if c["value"] and "session" in c["name"]]
    shot(page, "login-error")
    clean_console(console_errors, page)


def test_right_token_reaches_the_overview_and_the_cookie_opens_the_api(page, ui_server_token, console_errors):
    page.goto(f"{ui_server_token}/")
    sign_in(page, TOKEN)
    assert path_of(page) == "/"
    assert page.locator("nav").count() >= 1
    cookies = [c for c in page.context.cookies() if c["value"]]
    assert cookies, "no session cookie after signing in"
    assert all(TOKEN not in c["value"] for c in cookies), "the token itself must not be the cookie"
    assert page.request.get(f"{ui_server_token}{API}").status == 200  # the browser's cookie
    jar = {c["name"]: c["value"] for c in cookies}
    with httpx.Client(base_url=ui_server_token, timeout=30, cookies=jar) as client:
        assert client.get(API).status_code == 200
    clean_console(console_errors, page)


def test_login_returns_to_next(page, ui_server_token, console_errors):
    page.goto(f"{ui_server_token}/experiments")
    assert path_of(page) == "/login"
    assert parse_qs(urlsplit(page.url).query).get("next") == ["/experiments"]
    sign_in(page, TOKEN)
    page.wait_for_url(re.compile(r"/experiments$"))
    assert page.locator("table#experiments").count() == 1
    clean_console(console_errors, page)


def test_login_never_redirects_off_site(ui_server_token):
    with httpx.Client(base_url=ui_server_token, timeout=30, follow_redirects=False) as client:
        for evil in ("https://evil.example/x", "//evil.example/x", "/\\evil.example/x"):
            for answer in (client.post("/login", data={"token": TOKEN, "next": evil}),
                           client.post("/login", params={"next": evil}, data={"token": TOKEN})):
                assert answer.status_code in (302, 303), answer.text
                location = answer.headers["location"]
                target = urlsplit(location)
                assert target.netloc in ("", urlsplit(ui_server_token).netloc), location
                assert not location.startswith(("//", "/\\")), location


def test_a_change_by_session_cookie_needs_the_csrf_header(page, ui_server_token, ui_data):
    page.goto(f"{ui_server_token}/login")
    sign_in(page, TOKEN)
    jar = {c["name"]: c["value"] for c in page.context.cookies() if c["value"]}
    run = f"/api/v1/ui/jobs/run?name={ui_data.job}"
    with httpx.Client(base_url=ui_server_token, timeout=60, cookies=jar) as client:
        assert client.post(run).status_code == 403          # what a cross-site form could send
        answer = client.post(run, headers={"X-Vigil-CSRF": "1"})
        assert answer.status_code == 200 and answer.json()["status"] == "ok", answer.text
