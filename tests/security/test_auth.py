"""Authentication of the whole server: every route but health, login and the style sheet needs the token.

The routes are enumerated from ``api.routes`` (not a hand-kept list), so a
route added later is covered without editing this file.
"""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.security.conftest import TOKEN
from tests.server.factory import window
from vigil.server.security import SESSION_COOKIE, session_value

#: (method, path) reachable without credentials; everything else answers 401 or 303 -> /login.
PUBLIC = {("GET", "/api/v1/health"), ("HEAD", "/api/v1/health"), ("GET", "/login"), ("HEAD", "/login"),
          ("POST", "/login"), ("GET", "/static/vigil.css"), ("HEAD", "/static/vigil.css")}
#: The dashboard pages the brief names; the enumeration below must find every one of them.
PAGES = ("/", "/experiments", "/experiment", "/compare", "/events", "/drift", "/monitor", "/monitor/report",
         "/agents", "/models", "/datasets", "/jobs", "/alerts", "/static/plotly.min.js", "/static/vigil.js")
PARAMS = {"agent_id": "a", "name": "vigil.js"}
WRONG = ["", "Bearer", "Bearer ", "Bearer  ", "bearer", TOKEN, f"Basic {TOKEN}", f"Token {TOKEN}",
         "Bearer t", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}t", f"Bearer {TOKEN * 40}", f"Bearer {TOKEN.upper()}",
         f"Bearer {TOKEN[:-1]}\u00e9".encode(), f"Bearer {session_value(TOKEN)}", f"Bearer\t{TOKEN}x"]


def all_routes(client) -> list[tuple[str, str]]:
    """(method, concrete path) of every HTTP route of the app, path parameters filled in."""
    found = set()
    for route in client.app.api.routes:
        methods = getattr(route, "methods", None)
        if not methods:
            continue
        path = route.path
        for name, value in PARAMS.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"fill in the path parameter of {route.path}"
        found |= {(m, path) for m in methods}
    found |= {("GET", "/static/vigil.css"), ("GET", "/nowhere"), ("POST", "/nowhere"), ("DELETE", "/api/v1/windows")}
    return sorted(found)


def protected(client) -> list[tuple[str, str]]:
    return [r for r in all_routes(client) if r not in PUBLIC]


def send(client, method, path, headers=None, cookies=None):
    client.cookies.clear()
    for k, v in (cookies or {}).items():
        client.cookies.set(k, v)
    body = window("a", 0) if method in ("POST", "PUT", "PATCH") else None
    r = client.request(method, path, headers=headers or {}, json=body,
                       params={"metric": "pred1", "agents": "a", "name": "x", "experiment": "x", "id": "1"},
                       follow_redirects=False)
    client.cookies.clear()
    return r


def no_secret(r) -> None:
    assert TOKEN not in r.text, "the token is in a response body"
    assert not any(TOKEN in f"{k}: {v}" for k, v in r.headers.items()), "the token is in a response header"


def test_the_enumeration_covers_every_page_and_api(guarded):
    paths = {p for _, p in all_routes(guarded)}
    assert set(PAGES) <= paths
    assert {"/api/v1/windows", "/api/v1/agents", "/api/v1/ui/experiments", "/api/v1/ui/artifact",
            "/api/v1/ui/jobs/run", "/metrics", "/api/v1/openapi.json"} <= paths
    assert len(protected(guarded)) >= 40


def test_without_credentials_every_route_is_401_json(guarded):
    for method, path in protected(guarded):
        r = send(guarded, method, path)
        assert r.status_code == 401, (method, path, r.status_code)
        if method != "HEAD":
            assert r.headers["content-type"] == "application/json" and "detail" in r.json(), (method, path)
        assert r.headers["www-authenticate"].startswith("Bearer")
        no_secret(r)


def test_a_browser_is_sent_to_login_only_for_pages(guarded):
    for method, path in protected(guarded):
        r = send(guarded, method, path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        page = method in ("GET", "HEAD") and not path.startswith("/api/") and path != "/metrics"
        if page:
            assert r.status_code == 303, (method, path, r.status_code)
            target = urlsplit(r.headers["location"])
            assert target.path == "/login" and not target.netloc
            assert parse_qs(target.query)["next"][0].startswith(path)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
        no_secret(r)


@pytest.mark.parametrize("authorization", WRONG)
def test_wrong_credentials_are_401(guarded, authorization):
    checked = [("GET", "/api/v1/agents"), ("GET", "/api/v1/ui/experiments"), ("POST", "/api/v1/windows"),
               ("GET", "/static/vigil.js"), ("POST", "/api/v1/ui/jobs/run"), ("GET", "/metrics")]
    for method, path in checked:
        r = send(guarded, method, path, headers={"Authorization": authorization})
        assert r.status_code == 401, (authorization, method, path, r.status_code)
        no_secret(r)


@pytest.mark.parametrize("cookie", ["", "x", TOKEN, "f" * 64, session_value(TOKEN)[:-1], session_value(TOKEN) + "0",
                                    session_value("u" * 24), session_value(TOKEN).upper()])
def test_forged_session_cookies_are_401(guarded, cookie):
    for method, path in [("GET", "/api/v1/ui/experiments"), ("GET", "/api/v1/agents"), ("POST", "/api/v1/windows")]:
        r = send(guarded, method, path, cookies={SESSION_COOKIE: cookie}, headers={"X-Vigil-CSRF": "1"})
        assert r.status_code == 401, (cookie, method, path)


def test_the_session_cookie_opens_every_read(guarded):
    cookie = {SESSION_COOKIE: session_value(TOKEN)}
    for method, path in protected(guarded):
        if method not in ("GET", "HEAD") or path == "/nowhere":
            continue
        r = send(guarded, method, path, cookies=cookie)
        assert r.status_code not in (401, 403, 303) or path == "/logout", (method, path, r.status_code)
        assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
        no_secret(r)


def test_a_change_with_the_cookie_alone_needs_the_csrf_header(guarded):
    cookie = {SESSION_COOKIE: session_value(TOKEN)}
    posts = [p for m, p in protected(guarded) if m == "POST" and p != "/nowhere"]
    assert {"/api/v1/windows", "/api/v1/ui/jobs/run"} <= set(posts)
    for path in posts:
        for header in ({}, {"X-Vigil-CSRF": "0"}, {"X-Vigil-CSRF": "true"}, {"X-Vigil-CSRF": ""}):
            r = send(guarded, "POST", path, cookies=cookie, headers=header)
            assert r.status_code == 403, (path, header, r.status_code)
    assert send(guarded, "POST", "/api/v1/windows", cookies=cookie, headers={"X-Vigil-CSRF": "1"}).status_code == 201
    # the header without a valid session is no credential
    assert send(guarded, "POST", "/api/v1/windows", headers={"X-Vigil-CSRF": "1"}).status_code == 401


def test_public_routes_need_nothing(guarded):
    assert guarded.get("/api/v1/health").status_code == 200
    assert guarded.get("/login").status_code == 200
    assert guarded.get("/static/vigil.css").status_code == 200
    assert guarded.get("/static/vigil.css/../vigil.js").status_code in (401, 404)
    assert guarded.get("/static/%2e%2e/templates/base.html").status_code in (401, 404)


def test_the_token_never_leaks_into_responses_or_logs(guarded, caplog):
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = [guarded.post("/login", data={"token": TOKEN, "next": "/experiments"}, follow_redirects=False),
               guarded.post("/login", data={"token": TOKEN[:-1] + "x", "next": "/"}, follow_redirects=False),
               guarded.get("/login"), guarded.get("/", headers=auth), guarded.get("/api/v1/health"),
               guarded.get("/api/v1/openapi.json", headers=auth), guarded.get("/metrics", headers=auth),
               guarded.post("/api/v1/windows", json=window("a", 0), headers=auth),
               guarded.post("/api/v1/windows", content=b"{bad", headers={**auth, "Content-Type": "application/json"}),
               guarded.get("/api/v1/agents", headers={"Authorization": f"Bearer {TOKEN}x"}),
               guarded.get("/api/v1/ui/jobs", headers=auth), guarded.get("/experiment?name=x", headers=auth)]
    ok = answers[0]
    assert ok.status_code == 303 and ok.headers["location"] == "/experiments"
    assert ok.cookies.get(SESSION_COOKIE) == session_value(TOKEN)
    for r in answers:
        no_secret(r)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(rec.args) for rec in caplog.records)


def test_a_login_cookie_is_httponly_and_samesite(guarded):
    r = guarded.post("/login", data={"token": TOKEN}, follow_redirects=False)
    header = r.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and TOKEN.lower() not in header


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "\\\\evil.com", "http:evil.com",
                                    "///evil.com", "/\t/evil.com", "/\n/evil.com", " //evil.com", "javascript:alert(1)",
                                    "//evil.com/%2F..", "evil.com", "/%5Cevil.com", "%2F%2Fevil.com"])
def test_next_after_login_is_never_an_open_redirect(guarded, target):
    r = guarded.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    parts = urlsplit(location.replace("\\", "/"))
    assert location.startswith("/") and not location.startswith("//") and not parts.netloc, location
    assert "\\" not in location and "\t" not in location and "\n" not in location
    page = guarded.get("/login", params={"next": target})
    (hidden,) = re.findall(r'name="next" value="([^"]*)"', page.text)
    hidden = html.unescape(hidden)
    assert hidden.startswith("/") and not hidden.startswith("//") and not urlsplit(hidden).netloc, hidden
    assert "\\" not in hidden, hidden


def test_local_next_is_kept(guarded):
    r = guarded.post("/login", data={"token": TOKEN, "next": "/experiment?name=a"}, follow_redirects=False)
    assert r.headers["location"] == "/experiment?name=a"
