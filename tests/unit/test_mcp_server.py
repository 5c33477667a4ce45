"""herd_mcp.server in process, with the official MCP client, in front of a scripted router.

The router is an ``httpx.MockTransport`` that records every request, so each test can assert
what herd-mcp did (or, for the guardrails, did not) send to the fleet.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from mcp import Client

from herd_mcp.client import RouterClient
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.server import build_server
from herd_mcp.web import AccessGate, is_loopback, origin_allowed
from router.fleet_view import node_view
from router.registry import NodeRecord
from tests.elicitation import answering
from tests.factories import heartbeat
from tests.procs import free_port


def _node(node_id: str, status: str = "online") -> dict[str, Any]:
    hb = heartbeat(node_id, available=[("llama3.2:3b", 2.0), ("qwen3:8b", 5.2)])
    record = NodeRecord(node_id, hb, hb.ollama.url, first_seen=1000.0, last_seen=1000.0)
    now = 1001.0 if status == "online" else 1060.0
    return node_view(record, status, now).model_dump(mode="json")  # type: ignore[arg-type]


class FakeRouter:
    def __init__(self, nodes: list[dict[str, Any]] | None = None, stall: bool = False) -> None:
        self.nodes = nodes if nodes is not None else [_node("ws")]
        self.calls: list[tuple[str, str, Any]] = []
        self.toggles: dict[str, Any] = {"auto_pull": True, "max_retries": 2}
        self.job: dict[str, Any] | None = None
        self.stall = stall
        """A stalled job never moves: the tool must still return within its bound."""

    def changes(self) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[0] != "GET" and not c[1].endswith("/plan")]

    def pulls(self, request: httpx.Request, body: Any) -> httpx.Response:
        path = request.url.path
        if path.endswith("/plan"):
            online = [n["node_id"] for n in self.nodes if n["status"] == "online"]
            node = body.get("node_id") or (online[0] if online else None)
            if node is None:
                return httpx.Response(
                    200, json={"model": body["model"], "fits": False, "reason": "no node is online"}
                )
            free = 400_000_000_000
            plan = {"model": body["model"], "node_id": node, "fits": True}
            plan |= {"download_bytes": 523_000_000, "disk_free_bytes": free}
            return httpx.Response(200, json=plan | {"disk_free_after_bytes": free - 523_000_000})
        if request.method == "POST" and path == "/dashboard/api/pulls":
            self.job = {"id": "pull-1", "model": body["model"], "node_id": body["node_id"]}
            self.job |= {"state": "running", "completed_bytes": 0, "total_bytes": 100}
            return httpx.Response(202, json=self.job)
        if path == "/dashboard/api/pulls":
            return httpx.Response(200, json={"pulls": [self.job] if self.job else []})
        if self.job is None or self.job["id"] not in path:
            return httpx.Response(404, json={"error": "no pull job"})
        if path.endswith("/cancel"):
            self.job |= {"state": "cancelled", "error": "the pull was cancelled"}
        elif not self.stall and self.job["state"] == "running":
            done = self.job["completed_bytes"] + 50
            self.job |= {"completed_bytes": done, "percent": float(done)}
            self.job["state"] = "done" if done >= 100 else "running"
        return httpx.Response(200, json=self.job)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, request.url.path, body))
        path = request.url.path
        if path == "/fleet/status":
            online = sum(1 for n in self.nodes if n["status"] == "online")
            fleet = {
                "nodes_total": len(self.nodes),
                "nodes_online": online,
                "models_loaded": 0,
                "requests_active": 0,
            }
            return httpx.Response(200, json={"fleet": fleet, "nodes": self.nodes})
        if path.startswith("/dashboard/api/pulls"):
            return self.pulls(request, body)
        if path == "/api/delete":
            return httpx.Response(200, json={"model": body["model"], "deleted": [body["node_id"]]})
        if path == "/dashboard/api/settings" and request.method == "GET":
            return httpx.Response(
                200, json={"toggles": self.toggles, "config": {"data_dir": "/srv/herd"}}
            )
        if path == "/dashboard/api/settings":
            self.toggles.update(body)
            return httpx.Response(200, json={"updated": body, "toggles": self.toggles})
        if path == "/dashboard/api/health":
            return httpx.Response(500, json={"error": "health exploded", "hint": "see log"})
        return httpx.Response(404, json={"error": f"no route {path}"})


def serve(router: FakeRouter, **kwargs: Any) -> Any:
    client = RouterClient("http://router.test", transport=httpx.MockTransport(router.handle))
    return build_server(client, **kwargs)


async def test_read_only_follows_each_tools_own_read_only_annotation() -> None:
    async with Client(serve(FakeRouter())) as client:
        every = (await client.list_tools()).tools
    async with Client(serve(FakeRouter(), read_only=True)) as client:
        kept = {t.name for t in (await client.list_tools()).tools}
    assert len(every) == 17
    for tool in every:
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None
        assert (tool.name in kept) is tool.annotations.read_only_hint, tool.name
    assert {"fleet_status", "pull_status"} <= kept and "pull_model" not in kept


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_declined_or_cancelled_pull_sends_nothing(mode: str, action: str) -> None:
    router = FakeRouter()
    callback = answering(action)
    async with Client(serve(router), mode=mode, elicitation_callback=callback) as client:
        result = await client.call_tool("pull_model", {"model": "qwen3:0.6b", "node": "ws"})
    assert not result.is_error
    assert result.structured_content["status"] == (
        "cancelled" if action == "cancel" else "declined"
    )
    assert "nothing was pulled" in result.structured_content["message"]
    assert router.changes() == []
    assert "qwen3:0.6b" in callback.messages[0] and "ws" in callback.messages[0]


async def test_accepting_with_confirm_false_counts_as_declined() -> None:
    router = FakeRouter()
    callback = answering("accept", confirm=False)
    async with Client(serve(router), mode="legacy", elicitation_callback=callback) as client:
        result = await client.call_tool("delete_model", {"model": "qwen3:8b", "node": "ws"})
    assert result.structured_content["status"] == "declined"
    assert router.changes() == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_accepted_pull_follows_the_job_with_progress_to_its_end(mode: str) -> None:
    router = FakeRouter()
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, total, message))

    callback = answering("accept")
    async with Client(serve(router), mode=mode, elicitation_callback=callback) as client:
        result = await client.call_tool(
            "pull_model", {"model": "qwen3:0.6b", "node": "ws"}, progress_callback=progress
        )
    content = result.structured_content
    assert content["status"] == "done" and content["job_id"] == "pull-1"
    assert content["job"]["state"] == "done"
    assert router.changes() == [
        ("POST", "/dashboard/api/pulls", {"model": "qwen3:0.6b", "node_id": "ws"})
    ]
    assert [p for p, _, _ in seen] == [0, 50, 100] and seen[-1][1] == 100
    assert "0.5 GB" in callback.messages[0] and "400.0 GB free" in callback.messages[0]


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += max(seconds, 0.001)


async def test_a_pull_call_returns_within_its_bound_and_the_job_goes_on() -> None:
    router = FakeRouter(stall=True)
    time = FakeTime()
    server = serve(router, clock=time.clock, sleep=time.sleep, poll_s=1.0)
    async with Client(server, elicitation_callback=answering("accept")) as client:
        args = {"model": "qwen3:0.6b", "node": "ws", "wait_s": 5}
        content = (await client.call_tool("pull_model", args)).structured_content
        status = (await client.call_tool("pull_status", {"job_id": "pull-1"})).structured_content
        listed = (await client.call_tool("pull_status", {})).structured_content
    assert content["status"] == "running" and content["job"]["state"] == "running"
    assert 'pull_status(job_id="pull-1")' in content["message"]
    assert time.now <= 5.0 and time.sleeps == 5
    assert status["count"] == 1 and status["pulls"][0]["id"] == "pull-1"
    assert status["summary"] == "1 running, 0 ended recently"
    assert listed["count"] == 1 and "qwen3:0.6b onto ws" in listed["lines"][0]


@pytest.mark.parametrize("action", ["decline", "accept"])
async def test_cancel_pull_is_confirmed_before_it_stops_the_job(action: str) -> None:
    router = FakeRouter(stall=True)
    router.job = {"id": "pull-1", "model": "qwen3:0.6b", "node_id": "ws", "state": "running"}
    callback = answering(action)
    async with Client(serve(router), elicitation_callback=callback) as client:
        result = await client.call_tool("cancel_pull", {"job_id": "pull-1"})
    content = result.structured_content
    cancels = [c for c in router.changes() if c[1].endswith("/cancel")]
    assert "Stop the pull of qwen3:0.6b onto ws" in callback.messages[-1]
    if action == "decline":
        assert content["status"] == "declined" and cancels == []
    else:
        assert content["status"] == "done" and content["job"]["state"] == "cancelled"
        assert cancels == [("POST", "/dashboard/api/pulls/pull-1/cancel", None)]


async def test_token_flow_without_elicitation() -> None:
    router = FakeRouter()
    clock = [0.0]
    guard: ConfirmationGuard[Any] = ConfirmationGuard(lambda: clock[0], ttl_s=120)
    async with Client(serve(router, guard=guard), mode="legacy") as client:
        args = {"model": "qwen3:8b", "node": "ws"}
        preview = (await client.call_tool("delete_model", args)).structured_content
        assert preview["status"] == "needs_confirmation" and router.changes() == []
        assert preview["freed_gb"] == 5.2 and "wait for their explicit yes" in preview["message"]
        token = preview["confirm_token"]

        wrong = {"model": "llama3.2:3b", "node": "ws", "confirm_token": token}
        refused = (await client.call_tool("delete_model", wrong)).structured_content
        assert refused["status"] == "refused" and "other arguments" in refused["message"]
        burnt = await client.call_tool("delete_model", {**args, "confirm_token": token})
        assert burnt.structured_content["status"] == "refused" and router.changes() == []

        token = (await client.call_tool("delete_model", args)).structured_content["confirm_token"]
        done = await client.call_tool("delete_model", {**args, "confirm_token": token})
        assert done.structured_content["status"] == "done"
        assert router.changes() == [
            ("DELETE", "/api/delete", {"model": "qwen3:8b", "node_id": "ws"})
        ]
        again = await client.call_tool("delete_model", {**args, "confirm_token": token})
        assert again.structured_content["status"] == "refused"
        assert "already used" in again.structured_content["message"]

        token = (await client.call_tool("delete_model", args)).structured_content["confirm_token"]
        clock[0] += 121
        late = await client.call_tool("delete_model", {**args, "confirm_token": token})
        assert "expired" in late.structured_content["message"]
        assert len(router.changes()) == 1


async def test_settings_change_is_confirmed_then_applied() -> None:
    router = FakeRouter()
    callback = answering("accept")
    async with Client(serve(router), mode="legacy", elicitation_callback=callback) as client:
        result = await client.call_tool("update_settings", {"auto_pull": False})
    content = result.structured_content
    assert content["status"] == "done" and content["previous"] == {"auto_pull": True}
    assert content["toggles"]["auto_pull"] is False
    assert "auto_pull: on -> off" in callback.messages[0]
    assert router.changes() == [("POST", "/dashboard/api/settings", {"auto_pull": False})]


async def test_impossible_plans_are_refused_without_asking() -> None:
    router = FakeRouter()
    callback = answering("accept")
    async with Client(serve(router), mode="legacy", elicitation_callback=callback) as client:
        result = await client.call_tool("delete_model", {"model": "mistral:7b", "node": "ws"})
        unknown = await client.call_tool("update_settings", {"max_retries": 9})
    assert result.structured_content["status"] == "refused" and callback.messages == []
    assert unknown.is_error  # out of range: refused by the input schema
    assert router.changes() == []


async def test_api_errors_carry_the_full_response_and_the_log_path() -> None:
    async with Client(serve(FakeRouter())) as client:
        result = await client.call_tool("health", {})
    text = result.content[0].text
    assert result.is_error and "HTTP 500" in text
    assert '"hint": "see log"' in text and "/srv/herd/logs/herd.jsonl" in text


async def test_router_down_says_how_to_start_it() -> None:
    client = RouterClient(f"http://127.0.0.1:{free_port()}")
    async with Client(build_server(client)) as mcp:
        result = await mcp.call_tool("fleet_status", {})
    text = result.content[0].text
    assert result.is_error and "may not be running" in text and "`herd`" in text


async def test_no_node_online_and_offline_nodes_get_what_to_check() -> None:
    router = FakeRouter([_node("gone", status="offline")])
    async with Client(serve(router)) as client:
        content = (await client.call_tool("fleet_status", {})).structured_content
        pull = (await client.call_tool("pull_model", {"model": "qwen3:0.6b"})).structured_content
    assert any("herd-node" in a and "--router-url" in a for a in content["advice"])
    problem = content["problems"][0]
    assert problem["node_id"] == "gone" and "herd-node" in problem["what_to_check"]
    assert pull["status"] == "refused" and "herd-node" in pull["message"]


async def test_resources_and_prompts() -> None:
    async with Client(serve(FakeRouter())) as client:
        fleet = await client.read_resource("herd://fleet/status")
        node = await client.read_resource("herd://nodes/ws")
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        diag = await client.get_prompt("diagnose_slow_responses", {"model": "qwen3:8b"})
    assert json.loads(fleet.contents[0].text)["nodes"][0]["node_id"] == "ws"
    assert json.loads(node.contents[0].text)["node_id"] == "ws"
    assert prompts == {"check_fleet_health", "diagnose_slow_responses", "find_model_location"}
    assert "qwen3:8b" in diag.messages[0].content.text


# --- the HTTP gate ----------------------------------------------------------------------------


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _get(gate: AccessGate, headers: dict[str, str]) -> int:
    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        return (await http.get("/mcp", headers=headers)).status_code


async def test_gate_checks_origin_and_bearer_token() -> None:
    open_gate = AccessGate(_ok, token=None)
    assert await _get(open_gate, {}) == 200
    assert await _get(open_gate, {"origin": "http://localhost:3000"}) == 200
    assert await _get(open_gate, {"origin": "https://evil.example"}) == 403
    locked = AccessGate(_ok, token="s3cret")
    assert await _get(locked, {}) == 401
    assert await _get(locked, {"authorization": "Bearer nope"}) == 401
    assert await _get(locked, {"authorization": "Bearer s3cret"}) == 200


def test_origin_and_loopback_rules() -> None:
    assert origin_allowed("http://127.0.0.1:6274", ["http://127.0.0.1"])
    assert not origin_allowed("http://127.0.0.1.evil.com", ["http://127.0.0.1"])
    assert origin_allowed("https://app.example", ["https://app.example"])
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
