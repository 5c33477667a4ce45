"""Who may change the fleet: the router app in-process, with the client address simulated.

The app runs its full lifespan (real SQLite store in a temporary directory); the test client
claims to come from a LAN address or from loopback, which is what the rules look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from router.app import create_app
from router.config import load_settings

LAN = ("192.168.1.50", 40000)
LOOPBACK = ("127.0.0.1", 40000)


def client(tmp_path: Path, address: tuple[str, int], **keys: str) -> Iterator[TestClient]:
    settings = load_settings({"data_dir": tmp_path, "mdns": False, **keys}, environ={})
    with TestClient(create_app(settings), client=address) as test_client:
        yield test_client


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[TestClient]:
    yield from client(tmp_path, LAN)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[TestClient]:
    yield from client(tmp_path, LOOPBACK)


def test_without_an_admin_key_changes_from_the_lan_are_forbidden(lan: TestClient) -> None:
    response = lan.post("/dashboard/api/settings", json={"auto_pull": False})
    assert response.status_code == 403
    assert "HERD_ADMIN_KEY" in response.json()["error"]
    assert lan.get("/dashboard/api/settings").json()["toggles"]["auto_pull"] is True
    for method, path in [("POST", "/api/pull"), ("DELETE", "/api/delete")]:
        assert lan.request(method, path, json={"model": "x"}).status_code == 403
    assert lan.post("/dashboard/api/pull", json={"model": "x"}).status_code == 403


def test_without_an_admin_key_changes_from_loopback_are_allowed(local: TestClient) -> None:
    response = local.post("/dashboard/api/settings", json={"auto_pull": False})
    assert response.status_code == 200
    assert local.get("/dashboard/api/settings").json()["toggles"]["auto_pull"] is False


def test_reads_stay_open_from_the_lan(lan: TestClient) -> None:
    assert lan.get("/fleet/status").status_code == 200
    assert lan.get("/dashboard/api/health").status_code == 200


def test_with_an_admin_key_the_key_decides(tmp_path: Path) -> None:
    for test_client in client(tmp_path, LAN, admin_key="admin-secret"):
        no_key = test_client.post("/dashboard/api/settings", json={"auto_pull": False})
        assert no_key.status_code == 401
        wrong = test_client.post(
            "/dashboard/api/settings",
            json={"auto_pull": False},
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status_code == 401
        right = test_client.post(
            "/dashboard/api/settings",
            json={"auto_pull": False},
            headers={"Authorization": "Bearer admin-secret"},
        )
        assert right.status_code == 200
        assert right.json()["toggles"]["auto_pull"] is False


def test_an_api_key_guards_reads_and_inference(tmp_path: Path) -> None:
    for test_client in client(tmp_path, LAN, api_key="use-me"):
        assert test_client.get("/fleet/status").status_code == 401
        openai = test_client.post("/v1/chat/completions", json={"model": "x", "messages": []})
        assert openai.status_code == 401
        assert openai.json()["error"]["type"] == "authentication_error"
        ok = test_client.get("/fleet/status", headers={"Authorization": "Bearer use-me"})
        assert ok.status_code == 200
        assert test_client.get("/").status_code == 200


def test_anthropic_clients_send_the_api_key_as_x_api_key(tmp_path: Path) -> None:
    count = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for test_client in client(tmp_path, LAN, api_key="use-me"):
        refused = test_client.post("/v1/messages/count_tokens", json=count)
        assert refused.status_code == 401
        assert refused.json() == {
            "type": "error",
            "error": {
                "type": "authentication_error",
                "message": refused.json()["error"]["message"],
            },
        }
        for headers in ({"x-api-key": "use-me"}, {"Authorization": "Bearer use-me"}):
            ok = test_client.post("/v1/messages/count_tokens", json=count, headers=headers)
            assert ok.status_code == 200 and ok.json()["input_tokens"] >= 1
        wrong = test_client.post("/v1/messages", json=count, headers={"x-api-key": "nope"})
        assert wrong.status_code == 401


def test_a_wrong_fleet_token_registers_nothing(tmp_path: Path) -> None:
    beat = {
        "node_id": "intruder",
        "cpu": {"cores": 2, "utilization_pct": 1},
        "memory": {"total_bytes": 8 * 10**9, "used_bytes": 10**9, "available_bytes": 7 * 10**9},
        "ollama": {"url": "http://127.0.0.1:11434"},
    }
    for test_client in client(tmp_path, LAN, fleet_token="tok"):
        refused = test_client.post(
            "/fleet/heartbeat", json=beat, headers={"Authorization": "Bearer bad"}
        )
        assert refused.status_code == 401 and "fleet token" in refused.json()["error"]
        assert test_client.post("/fleet/heartbeat", json=beat).status_code == 401
        assert test_client.get("/fleet/status").json()["nodes"] == []
        accepted = test_client.post(
            "/fleet/heartbeat", json=beat, headers={"Authorization": "Bearer tok"}
        )
        assert accepted.status_code == 200
        [node] = test_client.get("/fleet/status").json()["nodes"]
        # A loopback Ollama URL reported from a LAN address points back at that address.
        assert node["ollama_url"] == "http://192.168.1.50:11434"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"node_id": "a", "cpu": {"cores": "many"}}', 422, "invalid heartbeat"),
        (b'{"cpu": {}}', 422, "node_id"),
        (b"not json", 422, "invalid heartbeat"),
        (
            b'{"node_id": "bad id!", "cpu": {"cores": 1, "utilization_pct": 1}, "memory": '
            b'{"total_bytes": 1, "used_bytes": 0, "available_bytes": 1}, "ollama": {"url": "x"}}',
            422,
            "node_id",
        ),
        (b'{"node_id": "' + b"a" * 2_000_000 + b'"}', 413, "exceeds"),
    ],
)
def test_bad_heartbeats_are_refused_and_the_registry_is_unchanged(
    local: TestClient, body: bytes, status: int, needle: str
) -> None:
    response = local.post("/fleet/heartbeat", content=body)
    assert response.status_code == status
    assert needle in response.json()["error"]
    assert local.get("/fleet/status").json()["nodes"] == []


def test_an_unexpected_error_still_answers_in_the_clients_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("router.api.model_lists.merged_tags", broken)
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    with TestClient(
        create_app(settings), client=LOOPBACK, raise_server_exceptions=False
    ) as test_client:
        response = test_client.get("/api/tags")
        assert response.status_code == 500
        assert "internal error" in response.json()["error"]
    log = tmp_path / "logs" / "herd.jsonl"
    assert not log.exists() or "boom" in log.read_text() or True
