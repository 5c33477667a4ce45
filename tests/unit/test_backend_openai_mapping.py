"""Ollama-native requests mapped for an OpenAI-compatible backend, and its answers (whole and
streamed as SSE) mapped back into Ollama's shape, field by field."""

from __future__ import annotations

import json

import pytest

from router.backends import openai as mapping

AT = "2026-01-01T00:00:00Z"


def test_chat_request_maps_messages_options_format_and_tools() -> None:
    body = {
        "model": "gemma3:270m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is this?", "images": ["iVBOR"]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "look", "arguments": {"x": 1}}}],
            },
            {"role": "tool", "content": "ok", "tool_call_id": "call_0"},
        ],
        "options": {"temperature": 0.2, "num_predict": 50, "seed": 7, "stop": ["\n"], "top_k": 3},
        "format": "json",
        "tools": [{"type": "function", "function": {"name": "look"}}],
    }
    out = mapping.request_body("chat", body)
    assert out["model"] == "gemma3:270m"
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["messages"][0] == {"role": "system", "content": "be brief"}
    assert out["messages"][1]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
    ]
    call = out["messages"][2]["tool_calls"][0]
    assert call == {
        "id": "call_0",
        "type": "function",
        "function": {"name": "look", "arguments": '{"x": 1}'},
    }
    assert out["messages"][3] == {"role": "tool", "content": "ok", "tool_call_id": "call_0"}
    assert (out["temperature"], out["max_tokens"], out["seed"], out["stop"]) == (0.2, 50, 7, ["\n"])
    assert "top_k" not in out
    assert out["response_format"] == {"type": "json_object"}
    assert out["tools"] == body["tools"]


def test_generate_becomes_a_chat_with_its_system_prompt() -> None:
    body = {
        "model": "m",
        "prompt": "hi",
        "system": "sys",
        "stream": False,
        "format": {"type": "object"},
    }
    out = mapping.request_body("generate", body)
    assert out["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
    ]
    assert out["stream"] is False and "stream_options" not in out
    assert out["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert mapping.OPENAI_PATHS["generate"] == "/v1/chat/completions"


def test_embedding_requests() -> None:
    assert mapping.request_body("embed", {"model": "e", "input": ["a", "b"], "dimensions": 8}) == {
        "model": "e",
        "input": ["a", "b"],
        "dimensions": 8,
    }
    assert mapping.request_body("embeddings", {"model": "e", "prompt": "a"}) == {
        "model": "e",
        "input": "a",
    }


def test_whole_answers() -> None:
    answer = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 2}'}}],
                },
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9},
    }
    chat = mapping.whole_answer("chat", "m", answer, AT, 1_000)
    assert chat["message"] == {
        "role": "assistant",
        "content": "Hello",
        "tool_calls": [{"function": {"name": "f", "arguments": {"a": 2}}}],
    }
    assert (chat["done"], chat["done_reason"], chat["model"], chat["created_at"]) == (
        True,
        "length",
        "m",
        AT,
    )
    assert (chat["prompt_eval_count"], chat["eval_count"], chat["total_duration"]) == (5, 9, 1_000)
    generate = mapping.whole_answer("generate", "m", answer, AT, 1_000)
    assert generate["response"] == "Hello" and "message" not in generate
    vectors = {
        "data": [{"embedding": [0.1, 0.2]}, {"embedding": [0.3, 0.4]}],
        "usage": {"prompt_tokens": 4},
    }
    embed = mapping.whole_answer("embed", "e", vectors, AT, 10)
    assert (embed["embeddings"], embed["prompt_eval_count"]) == ([[0.1, 0.2], [0.3, 0.4]], 4)
    assert mapping.whole_answer("embeddings", "e", vectors, AT, 10) == {"embedding": [0.1, 0.2]}
    with pytest.raises(ValueError, match="no choices"):
        mapping.whole_answer("chat", "m", {"choices": []}, AT, 1)


def sse(event: object) -> bytes:
    return b"data: " + json.dumps(event).encode()


def test_stream_of_content_usage_and_done() -> None:
    stream = mapping.ChatStream("chat", "m")
    lines: list[bytes] = []
    events = [
        {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]},
        {"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    for i, event in enumerate(events):
        lines += stream.feed(sse(event), AT, 100 * (i + 1))
    lines += stream.feed(b": keep-alive", AT, 450)
    lines += stream.feed(b"data: [DONE]", AT, 500)
    parsed = [json.loads(line) for line in lines]
    assert [p["message"]["content"] for p in parsed] == ["Hel", "lo", ""]
    assert [p["done"] for p in parsed] == [False, False, True]
    final = parsed[-1]
    assert (final["done_reason"], final["prompt_eval_count"], final["eval_count"]) == ("stop", 3, 2)
    assert (final["total_duration"], final["prompt_eval_duration"], final["eval_duration"]) == (
        500,
        200,
        300,
    )
    assert stream.done


def test_stream_gathers_tool_calls_and_passes_errors() -> None:
    stream = mapping.ChatStream("chat", "m")
    for piece in ('{"ci', 'ty": "Oslo"}'):
        call = {
            "index": 0,
            "function": {"name": "weather" if piece == '{"ci' else "", "arguments": piece},
        }
        stream.feed(sse({"choices": [{"delta": {"tool_calls": [call]}}]}), AT, 1)
    stream.feed(sse({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}), AT, 2)
    final = json.loads(stream.final(AT, 3))
    assert final["message"]["tool_calls"] == [
        {"function": {"name": "weather", "arguments": {"city": "Oslo"}}}
    ]
    counted = mapping.ChatStream("chat", "m")
    for piece in ("a", "b", "c"):
        counted.feed(sse({"choices": [{"delta": {"content": piece}}]}), AT, 1)
    assert json.loads(counted.final(AT, 2))["eval_count"] == 3, "no usage: deltas are counted"
    generate = mapping.ChatStream("generate", "m")
    [line] = generate.feed(sse({"choices": [{"delta": {"content": "x"}}]}), AT, 1)
    assert json.loads(line) == {"model": "m", "created_at": AT, "response": "x", "done": False}
    [error] = generate.feed(sse({"error": {"message": "context overflow"}}), AT, 2)
    assert json.loads(error) == {"error": "context overflow"}
