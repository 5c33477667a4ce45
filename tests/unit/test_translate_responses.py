"""OpenAI Responses <-> Ollama /api/chat: the pure translators, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.translate import TranslationError
from router.translate.responses_request import responses_request_to_ollama
from router.translate.responses_response import ResponsesStreamTranslator, reply_to_response

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "w",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_string_input_instructions_and_options() -> None:
    out = responses_request_to_ollama(
        {
            "model": "m",
            "input": "hello",
            "instructions": "be brief",
            "max_output_tokens": 20,
            "top_p": 0.5,
            "previous_response_id": "resp_old",
            "store": True,
        }
    )
    assert out["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    # temperature defaults to 1.0 as in Ollama's endpoint; previous_response_id is ignored.
    assert out["options"] == {"temperature": 1.0, "top_p": 0.5, "num_predict": 20}
    assert out["stream"] is False


def test_items_function_call_round_trip_and_reasoning() -> None:
    items = [
        {"role": "developer", "content": "sys"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "w?"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "get_weather",
            "arguments": '{"city":"P"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Sunny."}]},
    ]
    out = responses_request_to_ollama(
        {"model": "m", "input": items, "tools": [TOOL], "reasoning": {"effort": "high"}}
    )
    assert out["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "w?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "P"}}, "id": "c1"}
            ],
            "thinking": "think",
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "c1", "tool_name": "get_weather"},
        {"role": "assistant", "content": "Sunny."},
    ]
    assert out["tools"][0]["function"]["name"] == "get_weather"
    assert out["think"] == "high"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 3}, "input"),
        ({"input": [{"type": "mystery"}]}, "input[0].type"),
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [{"type": "input_image", "image_url": "https://x/y.png"}],
                    }
                ]
            },
            "input[0].content[0].image_url",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(TranslationError) as caught:
        responses_request_to_ollama({"model": "m", **body})
    assert caught.value.status == 400 and caught.value.param == param


def test_whole_reply_text_and_tool_calls() -> None:
    reply = {
        "message": {"role": "assistant", "content": "Hi", "thinking": "t"},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 4,
        "eval_count": 2,
    }
    out = reply_to_response(
        reply, {"input": "x"}, id="resp_z", model="m", created_at=10, completed_at=11
    )
    assert out["object"] == "response" and out["status"] == "completed"
    assert [o["type"] for o in out["output"]] == ["reasoning", "message"]
    assert out["output"][1]["content"][0]["text"] == "Hi"
    assert out["usage"]["total_tokens"] == 6 and out["completed_at"] == 11
    called = {
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
        },
        "done": True,
    }
    out = reply_to_response(called, {}, id="resp_z", model="m", created_at=1, completed_at=1)
    assert out["output"] == [
        {
            "id": "fc_z_0",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_z_0",
            "name": "f",
            "arguments": '{"a":1}',
        }
    ]


def _events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if block.strip():
            head, data = block.split("\n", 1)
            body = json.loads(data.removeprefix("data: "))
            assert head == f"event: {body['type']}"
            out.append(body)
    return out


def test_stream_text_sequence_numbers_and_usage() -> None:
    translator = ResponsesStreamTranslator(
        {"input": "x"}, id="resp_q", model="m", created_at=5, clock=lambda: 9.0
    )
    chunks = [
        {"message": {"role": "assistant", "content": "He"}, "done": False},
        {"message": {"role": "assistant", "content": "y"}, "done": False},
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 3,
            "eval_count": 2,
        },
    ]
    events = _events(b"".join(translator.feed_line(json.dumps(c)) for c in chunks))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[6]["text"] == "Hey" and events[6]["item_id"] == "msg_q"
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["completed_at"] == 9
    assert done["usage"]["input_tokens"] == 3 and done["usage"]["output_tokens"] == 2
    assert done["output"][0]["content"][0]["text"] == "Hey"


def test_stream_function_call_and_failure() -> None:
    translator = ResponsesStreamTranslator(
        {}, id="resp_f", model="m", created_at=1, clock=lambda: 1.0
    )
    call = {
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_7", "function": {"name": "f", "arguments": {"a": 1}}}],
        },
        "done": False,
    }
    events = _events(translator.feed_line(json.dumps(call)))
    assert [e["type"] for e in events][2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert events[3]["delta"] == '{"a":1}' and events[5]["item"]["call_id"] == "call_7"
    failed = _events(translator.feed_line(b'{"error":"boom"}'))
    assert failed[0]["type"] == "response.failed"
    assert failed[0]["response"]["error"] == {"code": "server_error", "message": "boom"}
    assert translator.failed
