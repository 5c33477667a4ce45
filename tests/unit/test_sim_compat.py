"""The simulator's own Anthropic / Responses mapping (``node.sim.compat_request``) and writers
(``node.sim.compat_reply``): what reaches its chat handler and the event order it answers with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.sim.compat_reply import MessagesWriter, ResponsesWriter
from node.sim.compat_request import messages_to_chat, responses_to_chat
from node.sim.engine import BadRequest


def _ids(prefix: str) -> str:
    return f"{prefix}_1"


def _kinds(events: bytes) -> list[str]:
    lines = events.decode().splitlines()
    return [json.loads(line[6:])["type"] for line in lines if line.startswith("data: ")]


def test_anthropic_request_maps_system_images_tool_use_and_results() -> None:
    body = messages_to_chat(
        {
            "model": "m",
            "max_tokens": 9,
            "system": [{"type": "text", "text": "be brief"}],
            "stop_sequences": ["END"],
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "base64", "data": "QQ=="}}],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
                },
            ],
        }
    )
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert body["messages"][1]["images"] == ["QQ=="]
    assert body["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": {"a": 1}}
    assert body["messages"][3]["tool_name"] == "f"
    assert body["options"] == {"num_predict": 9, "stop": ["END"]}
    with pytest.raises(BadRequest, match="max_tokens"):
        messages_to_chat(
            {"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}
        )


def test_responses_request_maps_function_call_round_trip() -> None:
    body = responses_to_chat(
        {
            "model": "m",
            "instructions": "sys",
            "max_output_tokens": 5,
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"x":2}'},
                {"type": "function_call_output", "call_id": "c", "output": "done"},
            ],
        }
    )
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"x": 2}
    assert body["options"] == {"num_predict": 5}


def _chunks() -> list[dict[str, Any]]:
    return [
        {"message": {"thinking": "hmm"}},
        {"message": {"content": "Hi"}},
        {"message": {"tool_calls": [{"function": {"name": "f", "arguments": {"k": 1}}}]}},
        {
            "message": {},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 3,
            "eval_count": 4,
        },
    ]


def test_messages_writer_event_order_and_final_message() -> None:
    writer = MessagesWriter("msg_1", "m", 2, _ids)
    kinds = _kinds(b"".join(writer.feed(c) for c in _chunks()))
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 3
    final = writer.result()
    assert [b["type"] for b in final["content"]] == ["thinking", "text", "tool_use"]
    assert final["stop_reason"] == "tool_use" and final["usage"]["output_tokens"] == 4


def test_responses_writer_numbers_events_and_completes_with_usage() -> None:
    writer = ResponsesWriter({"model": "m"}, "resp_1", 0, _ids)
    events = b"".join(writer.feed(c) for c in _chunks()).decode().splitlines()
    data = [json.loads(line[6:]) for line in events if line.startswith("data: ")]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    kinds = [d["type"] for d in data]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and "response.function_call_arguments.done" in kinds
    final = writer.result()
    assert [o["type"] for o in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["usage"]["total_tokens"] == 7
