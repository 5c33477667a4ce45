"""herd-mcp's protocol polish in process, with the official MCP client in front of a scripted
router: strict arguments, completions, the client's log, and the panel the tools point at."""

from __future__ import annotations

import mcp_types as types
import pytest
from mcp import Client

from herd_mcp.panel import PANEL_URI
from herd_mcp.strict_args import suggestion
from tests.elicitation import answering
from tests.unit.test_mcp_server import FakeRouter, _node, serve


async def test_an_unknown_argument_is_refused_naming_the_right_one() -> None:
    router = FakeRouter()
    async with Client(serve(router), elicitation_callback=answering("accept")) as client:
        result = await client.call_tool("pull_model", {"model": "qwen3:0.6b", "node_id": "ws"})
        tools = (await client.list_tools()).tools
    text = result.content[0].text
    assert result.is_error and "`node_id` (did you mean `node`?)" in text
    assert "nothing was done" in text and router.calls == []
    assert all(t.input_schema.get("additionalProperties") is False for t in tools)


@pytest.mark.parametrize(
    ("typed", "declared", "expected"),
    [("node_id", ["model", "node"], "node"), ("jobid", ["job_id"], "job_id"), ("zzz", ["a"], None)],
)
def test_suggestions(typed: str, declared: list[str], expected: str | None) -> None:
    assert suggestion(typed, declared) == expected


async def test_model_names_and_node_ids_complete_from_the_fleet() -> None:
    router = FakeRouter([_node("ws"), _node("laptop"), _node("mini", status="offline")])
    async with Client(serve(router)) as client:
        prompt = types.PromptReference(name="find_model_location")
        models = await client.complete(prompt, {"name": "model", "value": "qw"})
        template = types.ResourceTemplateReference(uri="herd://nodes/{node_id}")
        nodes = await client.complete(template, {"name": "node_id", "value": "m"})
        every = await client.complete(template, {"name": "node_id", "value": ""})
    assert models.completion.values == ["qwen3:8b"]
    assert nodes.completion.values == ["mini"]
    assert every.completion.values == ["laptop", "mini", "ws"] and every.completion.total == 3


@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_router_refusals_reach_the_clients_log_at_the_level_it_set() -> None:
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    router = FakeRouter()
    router.job = {"id": "pull-1", "model": "m", "node_id": "ws", "state": "running"}
    async with Client(
        serve(router),
        mode="legacy",
        logging_callback=on_log,
        elicitation_callback=answering("accept"),
    ) as client:
        await client.set_logging_level("error")
        router.job = None  # the cancel now meets a 404 from the router
        quiet = await client.call_tool("cancel_pull", {"job_id": "pull-1"})
        assert received == []
        await client.set_logging_level("warning")
        router.nodes = []
        await client.call_tool("health", {})
    assert quiet.structured_content["status"] == "refused"
    assert [r.level for r in received] == ["warning"]
    assert "HTTP 500" in str(received[0].data) and received[0].logger == "herd-mcp"


async def test_fleet_health_and_pull_tools_point_at_the_panel() -> None:
    async with Client(serve(FakeRouter())) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        panel = await client.read_resource(PANEL_URI)
    for name in ("fleet_status", "health", "pull_model", "pull_status"):
        assert (tools[name].meta or {})["ui"]["resourceUri"] == PANEL_URI, name
    assert "ui" not in (tools["traces"].meta or {})
    content = panel.contents[0]
    assert content.mime_type == "text/html;profile=mcp-app"
    assert "Content-Security-Policy" in content.text and "connect-src 'none'" in content.text
