"""herd-mcp end to end: the official MCP client, the real ``herd-mcp`` process, a real router and a
simulated node, all on 127.0.0.1.

One router + simulated node serve the whole module. ``herd-mcp`` is launched over stdio for most
tests (as Claude Desktop does) and once over streamable HTTP. Changes are checked where they land:
the simulator's own ``/api/tags``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import jsonschema
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.elicitation import answering
from tests.fleet import Fleet, running_fleet
from tests.procs import ROOT, Proc, free_port, python_module, wait_until

pytestmark = pytest.mark.e2e

NODE = "mcp-ws"
ALL_TOOLS = {
    "fleet_status",
    "model_list",
    "loaded_models",
    "find_model",
    "pull_model",
    "pull_status",
    "cancel_pull",
    "delete_model",
    "traces",
    "health",
    "recommendations",
    "usage",
    "model_insights",
    "app_analytics",
    "get_settings",
    "update_settings",
    "test_inference",
}
READ_ONLY = ALL_TOOLS - {
    "pull_model",
    "cancel_pull",
    "delete_model",
    "update_settings",
    "test_inference",
}
CLEAN = {"HERD_API_KEY": "", "HERD_ADMIN_KEY": "", "HERD_FLEET_TOKEN": "", "HERD_ROUTER_URL": ""}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(
        tmp_path_factory.mktemp("mcp"), [(NODE, "workstation")], time_scale=0.01, env=CLEAN
    ) as running:
        yield running


def stdio(router_url: str, *flags: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "herd_mcp", "--router-url", router_url, *flags],
        cwd=str(ROOT),
        env={"PATH": "/usr/bin:/bin", **CLEAN},
    )


async def test_tools_list_every_tool_with_annotations_and_output_schema(fleet: Fleet) -> None:
    async with Client(stdio(fleet.router_url), mode="legacy") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == ALL_TOOLS
    for tool in tools.values():
        assert tool.description and tool.output_schema and tool.output_schema["type"] == "object"
        a = tool.annotations
        assert a is not None and a.title
        assert a.read_only_hint is (tool.name in READ_ONLY), tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        assert a.open_world_hint is (tool.name == "pull_model"), tool.name
        assert a.idempotent_hint is not None and a.destructive_hint is not None
    assert tools["delete_model"].annotations.destructive_hint  # type: ignore[union-attr]
    assert not tools["pull_model"].annotations.destructive_hint  # type: ignore[union-attr]


READ_CALLS = [
    ("fleet_status", {}),
    ("model_list", {}),
    ("loaded_models", {}),
    ("find_model", {"model": "llama3.2:3b"}),
    ("test_inference", {"model": "llama3.2:3b", "max_tokens": 8}),
    ("traces", {"limit": 5}),
    ("health", {}),
    ("recommendations", {}),
    ("usage", {"days": 7}),
    ("model_insights", {"days": 7}),
    ("app_analytics", {"days": 7}),
    ("get_settings", {}),
]


@pytest.mark.parametrize(("name", "args"), READ_CALLS, ids=[n for n, _ in READ_CALLS])
async def test_each_tool_returns_structured_content_valid_for_its_schema(
    fleet: Fleet, name: str, args: dict[str, Any]
) -> None:
    async with Client(stdio(fleet.router_url), mode="legacy") as session:
        schema = {t.name: t.output_schema for t in (await session.list_tools()).tools}[name]
        result = await session.call_tool(name, args)
    text = result.content[0].text if result.content else ""
    assert not result.is_error, text
    assert result.structured_content is not None
    jsonschema.validate(result.structured_content, schema)
    if name == "test_inference":
        assert result.structured_content["node_id"] == NODE
        assert result.structured_content["completion_tokens"]
    if name == "find_model":
        assert NODE in result.structured_content["on_disk"] + result.structured_content["loaded_on"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_accepted_pull_lands_on_the_simulator_with_progress(fleet: Fleet, mode: str) -> None:
    model = "qwen3:0.6b" if mode == "legacy" else "all-minilm:latest"
    assert model not in fleet.sim(NODE).models()
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    callback = answering("accept")
    async with Client(stdio(fleet.router_url), mode=mode, elicitation_callback=callback) as client:
        result = await client.call_tool(
            "pull_model", {"model": model, "node": NODE}, progress_callback=on_progress
        )
    content = result.structured_content
    assert content is not None and content["status"] == "done", result.content
    assert model in fleet.sim(NODE).models()
    assert len(progress) >= 2 and progress == sorted(progress)
    assert content["job"]["state"] == "done" and content["job"]["percent"] == 100.0
    assert model.split(":")[0] in callback.messages[0] and NODE in callback.messages[0]
    assert "GB" in callback.messages[0] and "free" in callback.messages[0]


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_declined_or_cancelled_pull_changes_nothing(fleet: Fleet, action: str) -> None:
    model = "llama3.2:1b"
    callback = answering(action)
    async with Client(
        stdio(fleet.router_url), mode="legacy", elicitation_callback=callback
    ) as client:
        result = await client.call_tool("pull_model", {"model": model, "node": NODE})
    content = result.structured_content
    assert content is not None and content["status"] in {"declined", "cancelled"}
    assert "nothing was pulled" in content["message"]
    assert model not in fleet.sim(NODE).models()


async def test_token_flow_pulls_once_and_refuses_reuse_and_mismatch(fleet: Fleet) -> None:
    model = "mistral:7b"
    async with Client(stdio(fleet.router_url), mode="legacy") as client:  # no elicitation
        args = {"model": model, "node": NODE}
        preview = (await client.call_tool("pull_model", args)).structured_content
        assert preview is not None and preview["status"] == "needs_confirmation"
        assert preview["confirm_token"] and model not in fleet.sim(NODE).models()
        token = preview["confirm_token"]
        other = {"model": "llama3.2:1b", "node": NODE, "confirm_token": token}
        mismatch = (await client.call_tool("pull_model", other)).structured_content
        assert mismatch is not None and mismatch["status"] == "refused"
        assert "llama3.2:1b" not in fleet.sim(NODE).models()

        token = (await client.call_tool("pull_model", args)).structured_content["confirm_token"]
        done = await client.call_tool("pull_model", {**args, "confirm_token": token})
        assert done.structured_content["status"] == "done" and model in fleet.sim(NODE).models()
        reused = await client.call_tool("pull_model", {**args, "confirm_token": token})
        assert reused.structured_content["status"] == "refused"

        delete = {"model": model, "node": NODE}
        token = (await client.call_tool("delete_model", delete)).structured_content["confirm_token"]
        gone = await client.call_tool("delete_model", {**delete, "confirm_token": token})
        assert gone.structured_content["status"] == "done" and model not in fleet.sim(NODE).models()


async def test_read_only_lists_no_changing_tool(fleet: Fleet) -> None:
    async with Client(stdio(fleet.router_url, "--read-only"), mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == READ_ONLY


async def test_router_down_gives_the_helpful_message() -> None:
    async with Client(stdio(f"http://127.0.0.1:{free_port()}"), mode="legacy") as client:
        result = await client.call_tool("fleet_status", {})
    text = result.content[0].text
    assert result.is_error and "may not be running" in text and "`herd`" in text


async def test_streamable_http_with_bearer_token_and_origin_check(fleet: Fleet) -> None:
    port = free_port()
    server = Proc(
        python_module(
            "herd_mcp",
            "--http",
            "--port",
            str(port),
            "--router-url",
            fleet.router_url,
            "--token",
            "s3cret",
        ),
        env=CLEAN,
        name="herd-mcp-http",
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_until(
            lambda: httpx.get(url, timeout=2).status_code == 401, timeout=20, what="herd-mcp http"
        )
        headers = {"origin": "https://evil.example", "authorization": "Bearer s3cret"}
        async with httpx.AsyncClient(timeout=10) as plain:
            foreign = await plain.post(url, json={}, headers=headers)
        assert foreign.status_code == 403
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}, timeout=30)
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("find_model", {"model": "llama3.2:3b"})
        assert result.structured_content is not None and result.structured_content["found"]
    finally:
        server.stop()


def test_http_off_loopback_without_token_is_refused() -> None:
    proc = Proc(python_module("herd_mcp", "--http", "--host", "0.0.0.0"), env=CLEAN, name="mcp")
    try:
        assert proc.wait_exit(timeout=20) == 2
        assert "bearer token" in proc.output()
    finally:
        proc.stop()


async def test_resources_and_prompts_over_stdio(fleet: Fleet) -> None:
    async with Client(stdio(fleet.router_url), mode="legacy") as session:
        fleet_doc = await session.read_resource("herd://fleet/status")
        node_doc = await session.read_resource(f"herd://nodes/{NODE}")
        prompt = await session.get_prompt("find_model_location", {"model": "qwen3:8b"})
    assert json.loads(fleet_doc.contents[0].text)["fleet"]["nodes_online"] == 1
    assert json.loads(node_doc.contents[0].text)["node_id"] == NODE
    assert "find_model" in prompt.messages[0].content.text


# --- long pulls: router jobs that outlive the call ------------------------------------------


def router_jobs(fleet: Fleet) -> list[dict[str, Any]]:
    return httpx.get(f"{fleet.router_url}/dashboard/api/pulls", timeout=5).json()["pulls"]


def router_job(fleet: Fleet, job_id: str) -> dict[str, Any]:
    return httpx.get(f"{fleet.router_url}/dashboard/api/pulls/{job_id}", timeout=5).json()


async def test_a_pull_whose_client_goes_away_completes_and_pull_status_shows_it(
    fleet: Fleet,
) -> None:
    model = "phi4:14b"  # 9.1 GB at 200 MB/s: about 4.5 s at this scale
    fleet.sim(NODE).configure(time_scale=0.1)
    progress: list[float] = []
    moving = asyncio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)
        if value > 0:
            moving.set()

    args = {"model": model, "node": NODE}
    try:
        async with Client(
            stdio(fleet.router_url), mode="legacy", elicitation_callback=answering("accept")
        ) as client:
            call = asyncio.ensure_future(
                client.call_tool("pull_model", args, progress_callback=on_progress)
            )
            await asyncio.wait_for(moving.wait(), timeout=30)
            call.cancel()  # the client gives up mid-download and goes away
            with contextlib.suppress(asyncio.CancelledError):
                await call
        job_id = next(j["id"] for j in router_jobs(fleet) if j["model"] == model)
        wait_until(lambda: router_job(fleet, job_id)["state"] == "done", what="pull done")
        assert model in fleet.sim(NODE).models()
        assert progress == sorted(progress) and progress[-1] < 9e9
        async with Client(stdio(fleet.router_url), mode="legacy") as client:
            status = await client.call_tool("pull_status", {"job_id": job_id})
        content = status.structured_content
        assert content is not None and content["pulls"][0]["state"] == "done"
        assert content["pulls"][0]["completed_bytes"] == content["pulls"][0]["total_bytes"]
    finally:
        fleet.sim(NODE).configure(time_scale=0.01)


async def test_a_pull_returns_within_its_bound_and_cancel_needs_the_users_yes(
    fleet: Fleet,
) -> None:
    model = "llava:7b"  # 4.7 GB at 200 MB/s: about 24 s at this scale, unless stopped
    fleet.sim(NODE).configure(time_scale=1.0)
    try:
        async with Client(
            stdio(fleet.router_url), mode="legacy", elicitation_callback=answering("accept")
        ) as client:
            args = {"model": model, "node": NODE, "wait_s": 1}
            started = (await client.call_tool("pull_model", args)).structured_content
        assert started is not None and started["status"] == "running"
        job_id = started["job_id"]
        assert router_job(fleet, job_id)["state"] == "running"
        async with Client(stdio(fleet.router_url), mode="legacy") as client:  # no elicitation
            preview = (await client.call_tool("cancel_pull", {"job_id": job_id})).structured_content
            assert preview is not None and preview["status"] == "needs_confirmation"
            assert router_job(fleet, job_id)["state"] == "running"
            token = preview["confirm_token"]
            done = await client.call_tool("cancel_pull", {"job_id": job_id, "confirm_token": token})
        content = done.structured_content
        assert content is not None and content["status"] == "done"
        assert router_job(fleet, job_id)["state"] == "cancelled"

        def outcomes() -> list[str | None]:
            return [
                r["outcome"]
                for r in fleet.sim(NODE).records()
                if r["path"] == "/api/pull" and r["model"] == model
            ]

        wait_until(lambda: outcomes() == ["cancelled"], what="the node's download stopped")
        assert model not in fleet.sim(NODE).models()
    finally:
        fleet.sim(NODE).configure(time_scale=0.01)
