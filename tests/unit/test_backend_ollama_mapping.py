"""The request an Ollama backend is sent: endpoint per kind, its own compatibility endpoint when
its version has one, and the body as it will be read."""

from __future__ import annotations

import json

import pytest

from router.backends import ollama
from router.native import MESSAGES


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("chat", "/api/chat"),
        ("generate", "/api/generate"),
        ("embed", "/api/embed"),
        ("embeddings", "/api/embeddings"),
    ],
)
def test_each_kind_goes_to_its_native_endpoint(kind: str, path: str) -> None:
    body = {"model": "llama3.2:3b", "prompt": "héllo"}
    call = ollama.call(kind, body, None)
    assert call.path == path and call.native is None
    assert json.loads(call.payload) == body
    assert "héllo".encode() in call.payload  # not escaped: the byte count is the text's


def test_a_node_that_speaks_the_api_gets_the_clients_own_body() -> None:
    native = MESSAGES.call({"model": "qwen3:8b", "max_tokens": 5, "messages": []})
    assert ollama.chosen_native(native, "0.14.0", new_window=False) is native
    assert ollama.chosen_native(native, "0.13.9", new_window=False) is None
    assert ollama.chosen_native(native, "", new_window=False) is None
    # A larger context window can only be asked for through /api/chat.
    assert ollama.chosen_native(native, "0.14.0", new_window=True) is None
    call = ollama.call("chat", dict(native.body), native)
    assert call.path == "/v1/messages" and call.native is MESSAGES
    assert json.loads(call.payload)["max_tokens"] == 5
