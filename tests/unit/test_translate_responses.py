"""Ollama replies -> OpenAI objects (non-streaming), /v1/models, and the merge of Ollama streams."""

from __future__ import annotations

import json

import pytest

from router.translate import (
    OllamaStreamMerger,
    TranslationError,
    chat_response_to_openai,
    completion_response_to_openai,
    finish_reason,
    merge_stream,
    model_entry,
    models_list,
    tool_call_to_openai,
    usage,
)

STATS = {
    "total_duration": 5_000_000_000,
    "load_duration": 1_000_000,
    "prompt_eval_count": 12,
    "prompt_eval_duration": 2_000_000,
    "eval_count": 30,
    "eval_duration": 3_000_000_000,
}


def chat_reply(message, done_reason="stop", **extra):
    return {
        "model": "llama3:latest",
        "created_at": "2025-01-01T00:00:00Z",
        "message": message,
        "done": True,
        "done_reason": done_reason,
        **STATS,
        **extra,
    }


def test_chat_response_plain():
    out = chat_response_to_openai(
        chat_reply({"role": "assistant", "content": "Hello!"}),
        id="chatcmpl-abc",
        created=1700000000,
    )
    assert out == {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "llama3:latest",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
    }


def test_chat_response_model_override_and_fingerprint():
    out = chat_response_to_openai(
        chat_reply({"role": "assistant", "content": "x"}),
        id="chatcmpl-1",
        created=1,
        model="llama3",
        system_fingerprint="fp_herd",
    )
    assert out["model"] == "llama3"
    assert out["system_fingerprint"] == "fp_herd"


def test_chat_response_tool_calls_object_arguments_become_string():
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}},
            {"id": "call_ollama", "function": {"name": "get_time", "arguments": {}}},
        ],
    }
    out = chat_response_to_openai(chat_reply(message), id="chatcmpl-xyz", created=2)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert calls[0] == {
        "id": "call_xyz_0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"°C"}'},
    }
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris", "unit": "°C"}
    assert calls[1]["id"] == "call_ollama"
    assert calls[1]["function"]["arguments"] == "{}"


def test_chat_response_tool_calls_keep_content_when_present():
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
    }
    out = chat_response_to_openai(chat_reply(message), id="chatcmpl-1", created=1)
    assert out["choices"][0]["message"]["content"] == "Let me check."


def test_chat_response_thinking_becomes_reasoning():
    message = {"role": "assistant", "content": "4", "thinking": "2 plus 2"}
    out = chat_response_to_openai(chat_reply(message), id="chatcmpl-1", created=1)
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "4",
        "reasoning": "2 plus 2",
    }


@pytest.mark.parametrize(
    ("done_reason", "has_calls", "expected"),
    [
        ("stop", False, "stop"),
        ("length", False, "length"),
        ("load", False, "stop"),
        ("unload", False, "stop"),
        (None, False, "stop"),
        ("stop", True, "tool_calls"),
        ("length", True, "tool_calls"),
    ],
)
def test_finish_reason(done_reason, has_calls, expected):
    assert finish_reason(done_reason, has_calls) == expected


def test_chat_response_length():
    out = chat_response_to_openai(
        chat_reply({"role": "assistant", "content": "cut"}, done_reason="length"),
        id="c-1",
        created=1,
    )
    assert out["choices"][0]["finish_reason"] == "length"


def test_usage_with_missing_counts():
    assert usage({}) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert usage({"eval_count": 3}) == {
        "prompt_tokens": 0,
        "completion_tokens": 3,
        "total_tokens": 3,
    }


def test_tool_call_to_openai_string_arguments_kept():
    call = {"function": {"name": "f", "arguments": '{"a":1}'}}
    assert tool_call_to_openai(call, 3, "s")["function"]["arguments"] == '{"a":1}'
    assert tool_call_to_openai(call, 3, "s")["id"] == "call_s_3"


def test_completion_response():
    reply = {
        "model": "m",
        "response": "4",
        "done": True,
        "done_reason": "stop",
        "context": [1],
        **STATS,
    }
    out = completion_response_to_openai(reply, id="cmpl-9", created=5)
    assert out == {
        "id": "cmpl-9",
        "object": "text_completion",
        "created": 5,
        "model": "m",
        "choices": [{"text": "4", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
    }


def test_completion_response_length():
    reply = {"model": "m", "response": "abc", "done": True, "done_reason": "length"}
    out = completion_response_to_openai(reply, id="cmpl-9", created=5, model="alias")
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["model"] == "alias"


def test_models_list():
    out = models_list(["llama3:latest", "hf.co/bartowski/qwen:q4", "me/custom:1"], created=1700)
    assert out == {
        "object": "list",
        "data": [
            {"id": "llama3:latest", "object": "model", "created": 1700, "owned_by": "library"},
            {
                "id": "hf.co/bartowski/qwen:q4",
                "object": "model",
                "created": 1700,
                "owned_by": "bartowski",
            },
            {"id": "me/custom:1", "object": "model", "created": 1700, "owned_by": "me"},
        ],
    }


def test_models_list_owned_by_override_and_empty():
    assert models_list([], created=1) == {"object": "list", "data": []}
    assert model_entry("x", owned_by="herd")["owned_by"] == "herd"


# --- merge ---


def test_merge_chat_keeps_tool_calls_thinking_and_stats():
    chunks = [
        {
            "model": "m",
            "created_at": "t1",
            "message": {"role": "assistant", "content": "", "thinking": "Let "},
            "done": False,
        },
        {
            "model": "m",
            "created_at": "t2",
            "message": {"role": "assistant", "content": "", "thinking": "me think"},
            "done": False,
        },
        {
            "model": "m",
            "created_at": "t3",
            "message": {"role": "assistant", "content": "Sure"},
            "done": False,
        },
        {
            "model": "m",
            "created_at": "t4",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "a", "arguments": {"x": 1}}}],
            },
            "done": False,
        },
        {
            "model": "m",
            "created_at": "t5",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "b", "arguments": {}}}],
            },
            "done": False,
        },
        {
            "model": "m",
            "created_at": "t6",
            "message": {"role": "assistant", "content": "."},
            "done": True,
            "done_reason": "stop",
            "future_field": 1,
            **STATS,
        },
    ]
    out = merge_stream(chunks)
    assert out == {
        "model": "m",
        "created_at": "t6",
        "message": {
            "role": "assistant",
            "content": "Sure.",
            "thinking": "Let me think",
            "tool_calls": [
                {"function": {"name": "a", "arguments": {"x": 1}}},
                {"function": {"name": "b", "arguments": {}}},
            ],
        },
        "done": True,
        "done_reason": "stop",
        "future_field": 1,
        **STATS,
    }


def test_merge_chat_without_extras_has_no_empty_keys():
    chunks = [
        {"model": "m", "message": {"role": "assistant", "content": "hi"}, "done": False},
        {
            "model": "m",
            "message": {"role": "assistant", "content": "", "thinking": ""},
            "done": True,
            "done_reason": "length",
        },
    ]
    out = merge_stream(chunks)
    assert out["message"] == {"role": "assistant", "content": "hi"}
    assert out["done_reason"] == "length"


def test_merge_generate_keeps_thinking_and_context():
    chunks = [
        {"model": "m", "response": "", "thinking": "hmm", "done": False},
        {"model": "m", "response": "Hel", "done": False},
        {"model": "m", "response": "lo", "done": False},
        {
            "model": "m",
            "response": "",
            "done": True,
            "done_reason": "stop",
            "context": [1, 2, 3],
            **STATS,
        },
    ]
    out = merge_stream(chunks)
    assert out["response"] == "Hello"
    assert out["thinking"] == "hmm"
    assert out["context"] == [1, 2, 3]
    assert out["eval_count"] == 30


def test_merge_then_translate_keeps_tool_calls():
    chunks = [
        {
            "model": "m",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"q": "x"}}}],
            },
            "done": False,
        },
        {
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
        },
    ]
    out = chat_response_to_openai(merge_stream(chunks), id="chatcmpl-1", created=1)
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"q":"x"}'


def test_merge_error_chunk_raises():
    merger = OllamaStreamMerger()
    merger.add({"model": "m", "message": {"role": "assistant", "content": "a"}, "done": False})
    with pytest.raises(TranslationError) as info:
        merger.add({"error": "model runner crashed"})
    assert info.value.status == 500
    assert info.value.code == "upstream_error"
    assert info.value.message == "model runner crashed"


def test_merge_incomplete_stream_raises():
    merger = OllamaStreamMerger()
    merger.add({"model": "m", "response": "a", "done": False})
    assert not merger.done
    with pytest.raises(TranslationError) as info:
        merger.result()
    assert info.value.status == 502
    assert info.value.code == "incomplete_stream"


def test_merge_ignores_chunks_after_done():
    merger = OllamaStreamMerger()
    merger.add({"model": "m", "response": "a", "done": True, "done_reason": "stop"})
    merger.add({"model": "m", "response": "zzz", "done": False})
    assert merger.done
    assert merger.result()["response"] == "a"
