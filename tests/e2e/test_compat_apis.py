"""Anthropic Messages and OpenAI Responses through the router, with the official SDKs; and the
fleet-wide gaps: ``keep_alive: 0`` everywhere, one ``/api/ps`` entry per model, ``models.retrieve``.

The fleet shared with the other official-client tests: two simulated nodes that report Ollama
0.14 (they speak both APIs themselves, so the router forwards natively); one test turns them into
Ollama 0.12 nodes for a while, where the router translates to ``/api/chat``. Every call is
checked for its events, ids, stop reasons and usage, and for its trace with the API recorded.
"""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fleet import Fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e

CHAT = "llama3.2:3b"
THINKER = "qwen3:8b"
VISION = "gemma3:4b"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()


@pytest.fixture
def fleet(clients_fleet: Fleet) -> Fleet:
    return clients_fleet


@pytest.fixture
def claude(fleet: Fleet) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fleet.router_url, api_key="unused", max_retries=0)


@pytest.fixture
def oai(fleet: Fleet) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fleet.router_url}/v1", api_key="unused", max_retries=0)


def _trace(fleet: Fleet, request_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def recorded() -> bool:
        rows = httpx.get(f"{fleet.router_url}/dashboard/api/traces", params={"limit": 50}).json()
        for row in rows["traces"]:
            if row["request_id"] == request_id and row["status"] != "retried":
                found.update(row)
                return True
        return False

    wait_until(recorded, timeout=10, what=f"trace {request_id}")
    return found


def _paths(fleet: Fleet, node_id: str) -> list[str]:
    return [r["path"] for r in fleet.sim(node_id).records()]


# --- Anthropic Messages -------------------------------------------------------------------------


def _usage_totals(fleet: Fleet) -> dict[str, Any]:
    totals: dict[str, Any] = httpx.get(f"{fleet.router_url}/dashboard/api/usage").json()["totals"]
    return totals


def test_messages_create_native_with_trace(fleet: Fleet, claude: anthropic.Anthropic) -> None:
    before = _usage_totals(fleet)
    raw = claude.messages.with_raw_response.create(
        model=CHAT,
        max_tokens=64,
        system="Answer briefly.",
        messages=[{"role": "user", "content": "Hello there"}],
        extra_headers={"anthropic-version": "2023-06-01"},
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.model == CHAT
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    node = raw.headers["x-fleet-node"]
    assert "/v1/messages" in _paths(fleet, node)  # the node's own endpoint served it
    trace = _trace(fleet, raw.headers["x-request-id"])
    assert trace["api"] == "anthropic" and trace["status"] == "completed"
    assert trace["node_id"] == node and trace["model"] == CHAT
    assert trace["completion_tokens"] == message.usage.output_tokens
    after = _usage_totals(fleet)  # the dashboard (and MCP, which reads it) counts it like any other
    assert after["completed"] > before["completed"]
    assert after["completion_tokens"] >= before["completion_tokens"] + message.usage.output_tokens


def test_messages_stream_event_sequence_with_thinking(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=THINKER,
        max_tokens=400,
        thinking={"type": "enabled", "budget_tokens": 200},
        messages=[{"role": "user", "content": "Think, then say hi"}],
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events[-2] == "message_delta"
    starts = [i for i, e in enumerate(events) if e == "content_block_start"]
    stops = [i for i, e in enumerate(events) if e == "content_block_stop"]
    assert len(starts) == len(stops) == 2 and starts[0] < stops[0] < starts[1] < stops[1]
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[0].thinking and final.content[1].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = claude.messages.create(model=CHAT, max_tokens=200, tools=[WEATHER], messages=[question])
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert use.name == "get_weather" and "city" in use.input and use.id
    second = claude.messages.create(
        model=CHAT,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text


def test_streamed_tool_use_carries_input_json(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=CHAT,
        max_tokens=200,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "weather in Oslo?"}],
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "input_json_delta" in deltas
    assert final.stop_reason == "tool_use" and final.content[-1].input["city"]


def test_image_input_reaches_the_node(fleet: Fleet, claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(
        model=VISION,
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                    },
                    {"type": "text", "text": "What is in this picture?"},
                ],
            }
        ],
    )
    assert raw.parse().content[0].text
    records = fleet.sim(raw.headers["x-fleet-node"]).records()
    record = [r for r in records if r["path"] == "/v1/messages"][-1]
    assert record["translated_body"]["messages"][0]["images"] == [PIXEL]


def test_errors_are_anthropic_error_objects(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(
            model="absent:1b", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert missing.value.status_code == 404
    assert missing.value.body["type"] == "error"
    assert missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(
            model=CHAT, max_tokens=0, messages=[{"role": "user", "content": "x"}]
        )
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in bad.value.body["error"]["message"]


def test_a_native_stream_that_fails_midway_ends_with_an_error_event(
    fleet: Fleet, claude: anthropic.Anthropic
) -> None:
    for node in fleet.nodes.values():
        node.fault(kind="midstream_error", path="/v1/messages", after_chunks=3, message="GPU gone")
    try:
        with (
            pytest.raises(anthropic.APIStatusError) as failed,
            claude.messages.with_streaming_response.create(
                model=CHAT,
                max_tokens=200,
                stream=True,
                messages=[{"role": "user", "content": "a long story"}],
            ) as raw,
        ):
            request_id = raw.headers["x-request-id"]
            for _ in raw.parse():
                pass
        assert "GPU gone" in str(failed.value)
        trace = _trace(fleet, request_id)
        assert trace["status"] == "incomplete" and "GPU gone" in trace["error_message"]
    finally:
        fleet.reset()


def test_count_tokens_estimate(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(
        model=CHAT, messages=[{"role": "user", "content": "x" * 400}]
    )
    assert counted.input_tokens == (400 + len("user")) // 4


# --- OpenAI Responses ---------------------------------------------------------------------------

FUNCTION = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": WEATHER["input_schema"],
}


def test_responses_create_with_trace(fleet: Fleet, oai: openai.OpenAI) -> None:
    raw = oai.responses.with_raw_response.create(
        model=CHAT, input="Write one line", instructions="Be brief", previous_response_id=None
    )
    response = raw.parse()
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text and response.output[0].type == "message"
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    trace = _trace(fleet, raw.headers["x-request-id"])
    assert trace["api"] == "responses" and trace["status"] == "completed"


def test_responses_stream_with_a_function_tool(oai: openai.OpenAI) -> None:
    with oai.responses.stream(
        model=CHAT, input="What is the weather in Rome?", tools=[FUNCTION]
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.function_call_arguments.done" in kinds
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)
    call = final.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    assert final.usage is not None and final.usage.input_tokens > 0
    answered = oai.responses.create(
        model=CHAT,
        tools=[FUNCTION],
        input=[
            {"role": "user", "content": "What is the weather in Rome?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert answered.output_text


def test_old_ollama_nodes_get_the_router_translation(
    fleet: Fleet, claude: anthropic.Anthropic, oai: openai.OpenAI
) -> None:
    fleet.reset()  # forget the records of the native calls above
    for node in fleet.nodes.values():
        node.configure(version="0.12.6")
    try:
        wait_until(
            lambda: all(n["ollama"]["version"] == "0.12.6" for n in fleet.status()["nodes"]),
            timeout=10,
            what="the old version reported",
        )
        raw = claude.messages.with_raw_response.create(
            model=CHAT, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
        message = raw.parse()
        assert message.id == f"msg_{raw.headers['x-request-id']}"
        assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
        with claude.messages.stream(
            model=CHAT, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            kinds = [e.type for e in stream]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        with oai.responses.stream(model=CHAT, input="hi") as streamed:
            done = streamed.get_final_response()
        assert done.status == "completed" and done.output_text
        node = raw.headers["x-fleet-node"]
        assert "/v1/messages" not in _paths(fleet, node) and "/api/chat" in _paths(fleet, node)
        trace = _trace(fleet, raw.headers["x-request-id"])
        assert trace["api"] == "anthropic" and trace["completion_tokens"] > 0
    finally:
        for node in fleet.nodes.values():
            node.configure(version="0.14.3")


# --- the fleet-wide gaps ------------------------------------------------------------------------


def test_keep_alive_zero_unloads_on_every_node_and_ps_lists_once(fleet: Fleet) -> None:
    for node in fleet.nodes.values():
        httpx.post(f"{node.url}/api/generate", json={"model": CHAT}, timeout=10).raise_for_status()
    for node_id in fleet.nodes:
        fleet.wait_loaded(node_id, CHAT)
    ps = httpx.get(f"{fleet.router_url}/api/ps", timeout=10).json()["models"]
    entries = [m for m in ps if m["name"] == CHAT]
    assert len(entries) == 1 and sorted(entries[0]["nodes"]) == sorted(fleet.nodes)
    assert len({m["name"] for m in ps}) == len(ps)
    assert entries[0]["digest"] and entries[0]["size_vram"]
    reply = httpx.post(
        f"{fleet.router_url}/api/generate", json={"model": CHAT, "keep_alive": 0}, timeout=10
    ).json()
    assert reply["done"] is True and reply["done_reason"] == "unload" and reply["response"] == ""
    assert sorted(reply["nodes"]) == sorted(fleet.nodes)

    def unloaded_everywhere() -> bool:
        return all(
            all(m["name"] != CHAT for m in node.state()["loaded"]) for node in fleet.nodes.values()
        )

    wait_until(unloaded_everywhere, timeout=10, what=f"{CHAT} unloaded on both nodes")


def test_models_retrieve(oai: openai.OpenAI) -> None:
    model = oai.models.retrieve(CHAT)
    assert model.id == CHAT and model.object == "model"
    with pytest.raises(openai.NotFoundError) as missing:
        oai.models.retrieve("absent:1b")
    assert missing.value.status_code == 404
