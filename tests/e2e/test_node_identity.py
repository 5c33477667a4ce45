"""A node id is bound to the agent that registered it: nobody else may take it over or move it.

Before this, any host on the LAN (or any fleet-token holder) could re-register a node id with its
own URL and receive that node's chats, or point it at ``file:///x``. Here a real agent registers
and keeps its key; a second sender from another address is refused with and without a fleet
token; address changes are shown, held for approval when asked, and the admin can reset an id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from router.app import create_app
from router.config import load_settings
from tests.factories import heartbeat
from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e

KEY = "X-Herd-Node-Key"
TOKEN = "fleet-secret"


def _beat(node_id: str, url: str) -> dict[str, Any]:
    return heartbeat(node_id, url=url, loaded=[("llama3.2:1b", 1.3)]).model_dump(mode="json")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir = tmp_path_factory.mktemp("identity")
    env = {"HERD_FLEET_TOKEN": TOKEN}
    with running_fleet(data_dir, [("owner", "mini")], env=env) as running:
        yield running


def test_another_host_cannot_take_over_a_node_id_even_with_the_fleet_token(fleet: Fleet) -> None:
    node = fleet.sim("owner")
    before = fleet.node_status("owner")
    assert before is not None and before["ollama_url"] == node.url
    attacker = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with attacker:
        response = attacker.post(
            f"{fleet.router_url}/fleet/heartbeat",
            json=_beat("owner", "http://127.0.0.2:9"),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        wrong_key = attacker.post(
            f"{fleet.router_url}/fleet/heartbeat",
            json=_beat("owner", "http://127.0.0.2:9"),
            headers={"Authorization": f"Bearer {TOKEN}", KEY: "guessed"},
        )
    assert response.status_code == 403, response.text
    assert "bound to another agent" in response.json()["error"]
    assert wrong_key.status_code == 403
    # The real agent keeps heartbeating with its key and the node still routes to it.
    chats = lambda: sum(r["path"] == "/api/chat" for r in node.records())  # noqa: E731
    sent = chats()
    wait_until(lambda: (fleet.node_status("owner") or {}).get("status") == "online")
    chat = httpx.post(
        f"{fleet.router_url}/api/chat",
        json={"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert chat.status_code == 200 and chat.headers["x-fleet-node"] == "owner"
    assert chats() == sent + 1
    assert fleet.node_status("owner")["ollama_url"] == node.url  # type: ignore[index]


@pytest.fixture
def router(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    with TestClient(create_app(settings), client=("10.0.0.5", 4000)) as client:
        yield client


def _post(client: TestClient, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {KEY: key} if key else {}
    return client.post("/fleet/heartbeat", content=json.dumps(body), headers=headers)


@pytest.mark.parametrize(
    "url",
    [
        "file:///x",
        "gopher://10.0.0.5:70",
        "http://10.0.0.5:11434/evil/prefix",
        "http://u:p@h:1",
        "http://:11434",
        "http://10.0.0.5:11434/?a=b",
        "http://10.0.0.5:99999",
    ],
)
def test_a_backend_url_must_be_http_with_a_host_and_no_path(router: TestClient, url: str) -> None:
    response = _post(router, _beat("n1", url))
    assert response.status_code == 422, response.text
    assert "ollama.url" in response.json()["error"]
    assert router.get("/fleet/status").json()["nodes"] == []


def _from(client: TestClient, host: str) -> TestClient:
    """Make the next requests of ``client`` come from ``host`` (one app, one event loop)."""
    client._transport.client = (host, 4000)  # type: ignore[attr-defined]
    return client


def test_without_a_token_only_the_key_or_the_same_host_may_speak_for_an_id(
    tmp_path: Path,
) -> None:
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    with TestClient(create_app(settings)) as client:
        owner = _from(client, "10.0.0.5")
        key = _post(owner, _beat("n1", "http://10.0.0.5:11434")).json()["node_key"]
        again = _post(owner, _beat("n1", "http://10.0.0.5:11434"), key)
        assert again.status_code == 200 and again.json().get("node_key") is None
        stranger = _from(client, "10.0.0.99")
        refused = _post(stranger, _beat("n1", "http://10.0.0.99:11434"))
        assert refused.status_code == 403
        moved = _post(stranger, _beat("n1", "http://10.0.0.99:11434"), key)
        assert moved.status_code == 200  # the key holder (the agent got a new address by DHCP)
        node = client.get("/fleet/status").json()["nodes"][0]
        assert node["ollama_url"] == "http://10.0.0.99:11434"
        assert node["identity"]["previous_url"] == "http://10.0.0.5:11434"
        assert node["identity"]["address_changed_at"] is not None
    # A restarted router keeps the binding.
    with TestClient(create_app(settings), client=("10.0.0.7", 4000)) as later:
        assert _post(later, _beat("n1", "http://10.0.0.7:11434")).status_code == 403
        assert _post(later, _beat("n1", "http://10.0.0.99:11434"), key).status_code == 200


def test_an_address_change_can_wait_for_the_admin(tmp_path: Path) -> None:
    settings = load_settings(
        {"data_dir": tmp_path, "mdns": False, "require_address_approval": True}, environ={}
    )
    with TestClient(create_app(settings)) as client:
        node = _from(client, "10.0.0.5")
        key = _post(node, _beat("n1", "http://10.0.0.5:11434")).json()["node_key"]
        assert _post(node, _beat("n1", "http://10.0.0.5:22222"), key).status_code == 200
        view = client.get("/fleet/status").json()["nodes"][0]
        assert view["ollama_url"] == "http://10.0.0.5:11434"
        assert view["identity"]["pending_url"] == "http://10.0.0.5:22222"
        assert node.post("/dashboard/api/nodes/n1/address/approve").status_code == 403
        approved = _from(client, "127.0.0.1").post("/dashboard/api/nodes/n1/address/approve")
        assert approved.status_code == 200 and approved.json()["url"] == "http://10.0.0.5:22222"
        _post(_from(client, "10.0.0.5"), _beat("n1", "http://10.0.0.5:22222"), key)
        view = client.get("/fleet/status").json()["nodes"][0]
        assert view["ollama_url"] == "http://10.0.0.5:22222"
        assert view["identity"]["pending_url"] is None


def test_the_admin_can_reset_an_id(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    with TestClient(create_app(settings)) as client:
        _post(_from(client, "10.0.0.5"), _beat("n1", "http://10.0.0.5:11434"))
        assert (
            _post(_from(client, "10.0.0.6"), _beat("n1", "http://10.0.0.6:11434")).status_code
            == 403
        )
        admin = _from(client, "127.0.0.1")
        assert admin.post("/dashboard/api/nodes/n1/identity/reset").status_code == 200
        assert admin.post("/dashboard/api/nodes/n1/identity/reset").status_code == 404
        rebound = _post(_from(client, "10.0.0.6"), _beat("n1", "http://10.0.0.6:11434"))
        assert rebound.status_code == 200 and rebound.json()["node_key"]
