"""Anthropic Messages <-> Ollama /api/chat: the pure translators, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.translate import TranslationError
from router.translate.anthropic_request import estimate_input_tokens, messages_request_to_ollama
from router.translate.anthropic_response import (
    MessagesStreamTranslator,
    message_to_anthropic,
    stop_reason,
)
from router.translate.errors import anthropic_error_body, anthropic_error_event

PNG = "iVBORw0KGgo="


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "llama3.2:3b",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def test_system_blocks_sampling_stop_and_stream() -> None:
    out = messages_request_to_ollama(
        _body(
            system=[{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}],
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            stream=True,
        )
    )
    assert out["messages"][0] == {"role": "system", "content": "be brief"}
    assert out["options"] == {
        "num_predict": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["END"],
    }
    assert out["stream"] is True and "think" not in out


def test_tool_round_trip_blocks_become_tool_calls_and_tool_messages() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"c": "P"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "sunny"}],
                },
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ]
    tools = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]
    out = messages_request_to_ollama(_body(messages=messages, tools=tools))
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {"id": "toolu_1", "function": {"name": "get_weather", "arguments": {"c": "P"}}}
        ],
    }
    # In a user turn the tool results come first, then the turn's own text.
    assert out["messages"][2] == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": "toolu_1",
        "tool_name": "get_weather",
    }
    assert out["messages"][3] == {"role": "user", "content": "and tomorrow?"}
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "w",
                "parameters": {"type": "object"},
            },
        }
    ]


def test_images_thinking_and_tool_choice() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    tools = [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}}]
    out = messages_request_to_ollama(
        _body(
            messages=[{"role": "user", "content": [image, {"type": "text", "text": "what?"}]}],
            tools=tools,
            tool_choice={"type": "tool", "name": "b"},
            thinking={"type": "disabled"},
        )
    )
    assert out["messages"][0]["images"] == [PNG]
    assert [t["function"]["name"] for t in out["tools"]] == ["b"]
    assert out["think"] is False
    server = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    kept = messages_request_to_ollama(_body(tools=[*tools, server]))
    assert [t["function"]["name"] for t in kept["tools"]] == ["a", "b"]  # no node runs it
    none = messages_request_to_ollama(_body(tools=tools, tool_choice={"type": "none"}))
    assert "tools" not in none
    enabled = messages_request_to_ollama(_body(thinking={"type": "enabled", "budget_tokens": 9}))
    assert (
        "think" not in enabled
    )  # the model's default: thinking models think, others are not refused


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].source.type",
        ),
        ({"tool_choice": {"type": "tool", "name": "zz"}, "tools": []}, "tool_choice"),
        ({"stop_sequences": "END"}, "stop_sequences"),
    ],
)
def test_bad_requests_name_the_field(change: dict[str, Any], param: str) -> None:
    with pytest.raises(TranslationError) as caught:
        messages_request_to_ollama(_body(**change))
    assert caught.value.status == 400 and caught.value.param == param


def test_token_estimate_is_characters_over_four() -> None:
    body = _body(system="x" * 40, messages=[{"role": "user", "content": "y" * 36}])
    assert estimate_input_tokens(body) == (40 + 4 + 36) // 4
    assert estimate_input_tokens({"messages": []}) == 1


def test_whole_reply_blocks_stop_reason_and_usage() -> None:
    reply = {
        "model": "qwen3:8b",
        "message": {
            "role": "assistant",
            "content": "Here.",
            "thinking": "hmm",
            "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}],
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 11,
        "eval_count": 5,
    }
    out = message_to_anthropic(reply, id="msg_abc", model="qwen3:8b")
    assert [b["type"] for b in out["content"]] == ["thinking", "text", "tool_use"]
    assert out["content"][2] == {
        "type": "tool_use",
        "id": "toolu_abc_0",
        "name": "f",
        "input": {"x": 1},
    }
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == {"input_tokens": 11, "output_tokens": 5}
    assert stop_reason("length", False) == "max_tokens"
    assert stop_reason("stop", False) == "end_turn"


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        head, data = block.split("\n", 1)
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_stream_event_sequence_with_thinking_text_and_a_tool() -> None:
    translator = MessagesStreamTranslator(id="msg_s", model="m", input_tokens=9)
    chunks = [
        {"message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
        {"message": {"role": "assistant", "content": "Hel"}, "done": False},
        {"message": {"role": "assistant", "content": "lo"}, "done": False},
        {
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "call_9", "function": {"name": "f", "arguments": {"a": 1}}}],
            },
            "done": False,
        },
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 7,
            "eval_count": 3,
        },
    ]
    raw = b"".join(translator.feed_line(json.dumps(c)) for c in chunks)
    events = _events(raw)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(body["type"] == name for name, body in events)
    assert events[0][1]["message"]["usage"] == {"input_tokens": 9, "output_tokens": 0}
    assert events[3][1]["delta"] == {"type": "thinking_delta", "thinking": "hm"}
    assert events[7][1] == {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "text_delta", "text": "lo"},
    }
    assert events[9][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_9",
        "name": "f",
        "input": {},
    }
    assert events[10][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"a":1}'}
    assert events[12][1]["delta"]["stop_reason"] == "tool_use"
    assert events[12][1]["usage"] == {"input_tokens": 7, "output_tokens": 3}
    assert translator.done and not translator.failed
    assert translator.feed_line(json.dumps(chunks[-1])) == b""


def test_stream_error_line_ends_with_an_error_event() -> None:
    translator = MessagesStreamTranslator(id="msg_e", model="m", input_tokens=1)
    translator.feed_line(
        json.dumps({"message": {"role": "assistant", "content": "a"}, "done": False})
    )
    events = _events(translator.feed_line(b'{"error":"node died"}\n'))
    assert events == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "node died"}})
    ]
    assert translator.failed


def test_error_bodies_by_status() -> None:
    assert anthropic_error_body("no", 404) == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "no"},
    }
    assert anthropic_error_body("busy", 503)["error"]["type"] == "overloaded_error"
    assert anthropic_error_body("bad", 401)["error"]["type"] == "authentication_error"
    assert anthropic_error_body("x", 502)["error"]["type"] == "api_error"
    assert anthropic_error_event("x", 500).startswith(b"event: error\ndata: {")
