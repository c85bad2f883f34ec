"""Token and exposure rules, in process: every endpoint but health needs the bearer token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.factory import window
from vigil.errors import ConfigError
from vigil.server.app import create_app
from vigil.server.config import ServerConfig, resolve_host

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def guarded():
    with TestClient(create_app(ServerConfig(token=TOKEN, alert_channels=()))) as c:
        yield c


def routes(client) -> list[tuple[str, str]]:
    found = []
    for path, ops in client.app.api.openapi()["paths"].items():
        concrete = path.replace("{agent_id}", "a")
        found += [(method.upper(), concrete) for method in ops]
    return found


def test_every_endpoint_but_health_needs_the_token(guarded):
    checked = routes(guarded) + [("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs"), ("GET", "/nowhere")]
    assert len(checked) >= 9
    for method, path in checked:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
            r = guarded.request(method, path, headers=headers, params={"metric": "pred1", "agents": "a"},
                                json=window("a", 0) if method == "POST" else None)
            if path == "/api/v1/health" and method == "GET":
                assert r.status_code == 200
            else:
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.headers["www-authenticate"].startswith("Bearer")
                assert TOKEN not in r.text


def test_with_the_token_everything_works(guarded):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/api/v1/health").json()["token_required"] is True
    assert guarded.post("/api/v1/windows", json=window("a", 0), headers=auth).status_code == 201
    assert guarded.get("/api/v1/agents", headers=auth).json()["agents"][0]["agent_id"] == "a"
    assert guarded.get("/metrics", headers=auth).status_code == 200
    assert guarded.get("/api/v1/openapi.json", headers=auth).status_code == 200


def test_unauthenticated_oversized_body_is_401_not_read(guarded):
    r = guarded.post("/api/v1/windows", content=b"x" * (9 * 2**20), headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_exposed_address_needs_a_token():
    with pytest.raises(ConfigError, match="needs a token"):
        ServerConfig(host="0.0.0.0").check()
    with pytest.raises(ConfigError, match="needs a token"):
        create_app(ServerConfig(host="192.0.2.10"))
    with pytest.raises(ConfigError, match="at least 16"):
        ServerConfig(host="0.0.0.0", token="short").check()
    assert ServerConfig(host="0.0.0.0", token=TOKEN).check().token_required
    assert ServerConfig().check().host == "127.0.0.1"
    assert resolve_host("localhost") == "127.0.0.1" and resolve_host("all") == "0.0.0.0"


def test_token_from_environment_and_never_in_repr():
    config = ServerConfig.from_env({"VIGIL_TOKEN": TOKEN}, host="0.0.0.0")
    assert config.token == TOKEN and TOKEN not in repr(config)
    assert ServerConfig.from_env({"VIGIL_TOKEN": TOKEN}, token=None).token == TOKEN
    assert ServerConfig.from_env({}, token=TOKEN + "2").token == TOKEN + "2"


def test_a_busy_port_is_a_clear_error(capsys):
    import socket

    from vigil.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["server", "--port", str(busy.getsockname()[1])]) == 1
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1 port" in err and "in use" in err


def test_the_auth_scheme_is_case_insensitive(guarded):
    assert guarded.get("/api/v1/agents", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/api/v1/agents", headers={"Authorization": f"Bearer  {TOKEN} "}).status_code == 200
    assert guarded.get("/api/v1/agents", headers={"Authorization": f"Token {TOKEN}"}).status_code == 401
