"""Ollama NDJSON streams -> OpenAI SSE streams (chat and completions)."""

from __future__ import annotations

import json

import httpx
import openai
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk

from router.translate import (
    DONE_EVENT,
    ChatStreamTranslator,
    CompletionStreamTranslator,
)

STATS = {"prompt_eval_count": 5, "eval_count": 7, "total_duration": 1, "eval_duration": 1}


def chunk(content="", done=False, **message_extra):
    out = {
        "model": "llama3:latest",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content, **message_extra},
        "done": done,
    }
    return out


def final(done_reason="stop", content=""):
    return {**chunk(content, done=True), "done_reason": done_reason, **STATS}


def events(data: bytes) -> list:
    """Parse SSE bytes into payloads (JSON objects, or the string "[DONE]")."""
    assert data.endswith(b"\n\n")
    out = []
    for block in data.decode().split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        payload = block[len("data: ") :]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def run(translator, chunks) -> tuple[bytes, list]:
    raw = b"".join(translator.feed(c) for c in chunks) + translator.finish()
    return raw, events(raw)


def test_plain_chat_stream():
    t = ChatStreamTranslator(id="chatcmpl-1", created=100, model="llama3")
    raw, evs = run(t, [chunk("Hel"), chunk("lo"), chunk(" world"), final()])
    assert evs[-1] == "[DONE]"
    bodies = evs[:-1]
    for body in bodies:
        assert body["id"] == "chatcmpl-1"
        assert body["object"] == "chat.completion.chunk"
        assert body["created"] == 100
        assert body["model"] == "llama3"
        assert "usage" not in body
    assert bodies[0]["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "Hel"},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert bodies[1]["choices"] == [
        {"index": 0, "delta": {"content": "lo"}, "logprobs": None, "finish_reason": None}
    ]
    assert bodies[2]["choices"][0]["delta"] == {"content": " world"}
    assert bodies[3]["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert len(bodies) == 4
    assert t.done and t.usage == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    # Compact JSON, as specified.
    assert b'", "' not in raw and b'": ' not in raw


def test_fast_path_and_general_path_agree_byte_for_byte():
    fast = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m", system_fingerprint="fp")
    fast.feed(chunk("a"))
    fast_bytes = fast.feed(chunk('he said "hi" \n ünïcode'))
    slow = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m", system_fingerprint="fp")
    slow.feed(chunk("a"))
    slow_bytes = slow.feed(chunk('he said "hi" \n ünïcode', thinking=""))  # forces general path
    assert fast_bytes == slow_bytes
    body = events(fast_bytes)[0]
    assert body["system_fingerprint"] == "fp"
    assert body["choices"][0]["delta"]["content"] == 'he said "hi" \n ünïcode'


def test_model_taken_from_first_chunk_when_not_given():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1)
    _, evs = run(t, [chunk("x"), final()])
    assert evs[0]["model"] == "llama3:latest"


def test_empty_first_chunk_still_announces_role_and_empty_chunks_skipped():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    first = t.feed(chunk(""))
    assert events(first)[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert t.feed(chunk("")) == b""


def test_thinking_becomes_reasoning_delta():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    _, evs = run(
        t, [chunk("", thinking="Let me"), chunk("", thinking=" think"), chunk("42"), final()]
    )
    assert evs[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
        "reasoning": "Let me",
    }
    assert evs[1]["choices"][0]["delta"] == {"reasoning": " think"}
    assert evs[2]["choices"][0]["delta"] == {"content": "42"}


def test_tool_calls_stream():
    calls_a = [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    calls_b = [
        {"function": {"name": "get_time", "arguments": {}}},
        {"id": "call_up", "function": {"name": "get_date", "arguments": {"tz": "UTC"}}},
    ]
    t = ChatStreamTranslator(id="chatcmpl-abc", created=1, model="m")
    _, evs = run(t, [chunk("", tool_calls=calls_a), chunk("", tool_calls=calls_b), final()])
    first = evs[0]["choices"][0]
    assert first["delta"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_abc_0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    second = evs[1]["choices"][0]["delta"]["tool_calls"]
    assert [c["index"] for c in second] == [1, 2]
    assert second[0]["id"] == "call_abc_1"
    assert second[1]["id"] == "call_up"
    assert json.loads(second[1]["function"]["arguments"]) == {"tz": "UTC"}
    assert evs[2]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_calls_in_done_chunk():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    done = final()
    done["message"]["tool_calls"] = [{"function": {"name": "f", "arguments": {"a": 1}}}]
    _, evs = run(t, [chunk("hi"), done])
    last = evs[1]["choices"][0]
    assert last["finish_reason"] == "tool_calls"
    assert last["delta"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}


def test_length_finish_and_content_on_done_chunk():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    _, evs = run(t, [chunk("a"), final("length", content="b")])
    assert evs[1]["choices"][0] == {
        "index": 0,
        "delta": {"content": "b"},
        "logprobs": None,
        "finish_reason": "length",
    }


def test_include_usage():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m", include_usage=True)
    _, evs = run(t, [chunk("a"), chunk("b"), final()])
    assert evs[-1] == "[DONE]"
    usage_event = evs[-2]
    assert usage_event["choices"] == []
    assert usage_event["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    for body in evs[:-2]:
        assert body["usage"] is None
    assert evs[-3]["choices"][0]["finish_reason"] == "stop"


def test_chunks_after_done_ignored():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    t.feed(final())
    assert t.feed(chunk("late")) == b""


def test_upstream_error_line_becomes_sse_error():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    t.feed(chunk("partial"))
    out = t.feed({"error": "out of memory"})
    assert events(out) == [
        {"error": {"message": "out of memory", "type": "server_error", "param": None, "code": None}}
    ]
    assert t.failed and not t.done


def test_feed_line():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    assert t.feed_line(b"\n") == b""
    out = t.feed_line(json.dumps(chunk("x")).encode() + b"\n")
    assert events(out)[0]["choices"][0]["delta"]["content"] == "x"


def test_finish_is_done_event():
    assert ChatStreamTranslator(id="c", created=1).finish() == DONE_EVENT == b"data: [DONE]\n\n"


# --- completions ---


def gen(text, done=False, **extra):
    return {"model": "m", "created_at": "t", "response": text, "done": done, **extra}


def test_completion_stream():
    t = CompletionStreamTranslator(id="cmpl-1", created=9, model="m")
    _, evs = run(
        t,
        [
            gen("", thinking="hm"),
            gen("Hel"),
            gen("lo"),
            gen("", True, done_reason="length", **STATS),
        ],
    )
    assert evs[-1] == "[DONE]"
    bodies = evs[:-1]
    assert [b["object"] for b in bodies] == ["text_completion"] * 3
    assert bodies[0]["choices"] == [
        {"text": "Hel", "index": 0, "logprobs": None, "finish_reason": None}
    ]
    assert bodies[1]["choices"][0]["text"] == "lo"
    assert bodies[2]["choices"] == [
        {"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}
    ]
    assert t.usage == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def test_completion_stream_include_usage_and_error():
    t = CompletionStreamTranslator(id="cmpl-1", created=9, model="m", include_usage=True)
    _, evs = run(t, [gen("a"), gen("b", True, done_reason="stop", **STATS)])
    assert evs[0]["usage"] is None
    assert evs[1]["choices"][0] == {
        "text": "b",
        "index": 0,
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert evs[2] == {
        **{k: evs[1][k] for k in ("id", "object", "created", "model")},
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    t2 = CompletionStreamTranslator(id="cmpl-2", created=9, model="m")
    assert events(t2.feed({"error": "boom"}))[0]["error"]["message"] == "boom"


# --- the official client's SSE parser reads our streams ---


def parse_with_openai(raw: bytes, cast_to):
    client = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1")
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=raw,
        request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"),
    )
    return list(openai.Stream(cast_to=cast_to, response=response, client=client))


def test_openai_client_parses_chat_stream():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m", include_usage=True)
    calls = [{"function": {"name": "f", "arguments": {"a": 1}}}]
    raw, _ = run(t, [chunk("Hi"), chunk(" there"), chunk("", tool_calls=calls), final()])
    parsed = parse_with_openai(raw, ChatCompletionChunk)
    text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert text == "Hi there"
    tool = next(c for c in parsed if c.choices and c.choices[0].delta.tool_calls)
    assert tool.choices[0].delta.tool_calls[0].function.arguments == '{"a":1}'
    assert parsed[-2].choices[0].finish_reason == "tool_calls"
    assert parsed[-1].usage.total_tokens == 12


def test_openai_client_parses_completion_stream():
    t = CompletionStreamTranslator(id="cmpl-1", created=1, model="m")
    raw, _ = run(t, [gen("a"), gen("b"), gen("", True, done_reason="stop")])
    parsed = parse_with_openai(raw, Completion)
    assert "".join(c.choices[0].text for c in parsed) == "ab"
    assert parsed[-1].choices[0].finish_reason == "stop"


def test_openai_client_raises_on_error_event():
    t = ChatStreamTranslator(id="chatcmpl-1", created=1, model="m")
    raw = t.feed(chunk("a")) + t.feed({"error": "upstream died"})
    try:
        parse_with_openai(raw, ChatCompletionChunk)
    except openai.APIError as exc:
        assert "upstream died" in str(exc)
    else:
        raise AssertionError("the client did not surface the error event")
