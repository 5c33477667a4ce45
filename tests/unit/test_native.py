"""Which endpoint serves a request (the node's own compatibility API or /api/chat), how a native
answer is read, and when a request asks to unload a model everywhere."""

from __future__ import annotations

import pytest

from router import native
from router.native import MESSAGES, RESPONSES, speaks, upstream_for
from router.unload import is_unload


def test_the_version_that_added_each_api_decides() -> None:
    call = MESSAGES.call({"model": "m"})
    assert upstream_for(call, "0.14.0") is call
    assert upstream_for(call, "0.13.5") is None
    assert upstream_for(call, "") is None  # unknown: the translation every Ollama understands
    assert upstream_for(None, "0.20.0") is None
    assert speaks("0.13.3", RESPONSES) and not speaks("0.13.2", RESPONSES)
    assert speaks("0.15.0-rc1", MESSAGES) and not speaks("garbage", MESSAGES)


def test_native_events_end_fail_and_carry_usage() -> None:
    delta = (
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"input_tokens":7,"output_tokens":3}}\n\n'
    )
    text = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0}\n\n'
    assert native.is_done(MESSAGES, delta) and not native.is_done(MESSAGES, text)
    assert native.usage(delta) == {"prompt_eval_count": 7, "eval_count": 3}
    failed = b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"x"}}\n\n'
    assert native.is_failure(MESSAGES, failed) and native.error_text(failed) == "x"
    assert not native.is_failure(MESSAGES, delta)
    completed = (
        b'data: {"type":"response.completed",'
        b'"response":{"usage":{"input_tokens":2,"output_tokens":5}}}\n\n'
    )
    assert native.is_done(RESPONSES, completed)
    assert native.usage(completed) == {"prompt_eval_count": 2, "eval_count": 5}
    # A whole Responses body has "error": null and is no failure; status "failed" is one.
    assert not native.is_failure(
        RESPONSES, b'{"object":"response","status":"completed","error":null}'
    )
    assert native.is_failure(RESPONSES, b'{"status":"failed","error":{"message":"boom"}}')


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        ("generate", {"model": "m", "keep_alive": 0}, True),
        ("chat", {"model": "m", "messages": [], "keep_alive": "0s"}, True),
        ("generate", {"model": "m", "keep_alive": "0m"}, True),
        ("generate", {"model": "m", "prompt": "hi", "keep_alive": 0}, False),
        ("generate", {"model": "m"}, False),
        ("generate", {"model": "m", "keep_alive": "5m"}, False),
        ("generate", {"model": "m", "keep_alive": False}, False),
        ("embed", {"model": "m", "keep_alive": 0}, False),
    ],
)
def test_unload_requests(kind: str, body: dict[str, object], expected: bool) -> None:
    assert is_unload(kind, body) is expected
