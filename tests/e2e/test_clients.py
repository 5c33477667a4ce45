"""The official ``ollama`` and ``openai`` Python clients, pointed at the router, just work.

A router with two simulated nodes; every call goes through the router's full pipeline.
"""

from __future__ import annotations

import json

import ollama
import openai
import pytest

from tests.factories import WEATHER_TOOL
from tests.fleet import Fleet

pytestmark = pytest.mark.e2e


@pytest.fixture
def fleet(clients_fleet: Fleet) -> Fleet:
    return clients_fleet


@pytest.fixture
def ollama_client(fleet: Fleet) -> ollama.Client:
    return ollama.Client(host=fleet.router_url)


@pytest.fixture
def openai_client(fleet: Fleet) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fleet.router_url}/v1", api_key="unused", max_retries=0)


# --- ollama ---------------------------------------------------------------------------------


def test_ollama_list_and_ps(ollama_client: ollama.Client) -> None:
    ollama_client.chat(model="llama3.2:3b", messages=[{"role": "user", "content": "warm up"}])
    names = {m.model for m in ollama_client.list().models}
    assert {"llama3.3:70b", "mistral:7b", "llama3.2:3b"} <= names
    loaded = ollama_client.ps().models
    entry = next(m for m in loaded if m.model == "llama3.2:3b")
    assert entry.size_vram and entry.expires_at is not None and entry.digest
    assert entry.details is not None and entry.details.family


def test_ollama_chat(ollama_client: ollama.Client) -> None:
    reply = ollama_client.chat(
        model="llama3.2:3b", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert reply.message.role == "assistant" and reply.message.content
    assert reply.done and reply.eval_count and reply.eval_count > 0


def test_ollama_chat_streaming(ollama_client: ollama.Client) -> None:
    chunks = list(
        ollama_client.chat(
            model="llama3.2:3b", messages=[{"role": "user", "content": "Stream"}], stream=True
        )
    )
    assert len(chunks) > 2
    assert chunks[-1].done and chunks[-1].done_reason == "stop"
    assert "".join(c.message.content or "" for c in chunks)


def test_ollama_generate_and_stream(ollama_client: ollama.Client) -> None:
    reply = ollama_client.generate(model="llama3.1:8b", prompt="Once upon a time")
    assert reply.response and reply.done
    parts = list(ollama_client.generate(model="llama3.1:8b", prompt="Count", stream=True))
    assert parts[-1].done and "".join(p.response for p in parts)


def test_ollama_embed_and_legacy_embeddings(ollama_client: ollama.Client) -> None:
    result = ollama_client.embed(model="nomic-embed-text", input=["one", "two"])
    assert len(result.embeddings) == 2 and len(result.embeddings[0]) > 10
    legacy = ollama_client.embeddings(model="nomic-embed-text", prompt="one")
    assert len(legacy.embedding) == len(result.embeddings[0])


def test_ollama_tools_survive_a_non_streaming_reply(ollama_client: ollama.Client) -> None:
    reply = ollama_client.chat(
        model="qwen3:8b",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=False,
    )
    calls = reply.message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert isinstance(calls[0].function.arguments, dict)


def test_ollama_thinking_survives(ollama_client: ollama.Client) -> None:
    reply = ollama_client.chat(
        model="qwen3:8b", messages=[{"role": "user", "content": "Think first"}], think=True
    )
    assert reply.message.thinking


def test_ollama_show(ollama_client: ollama.Client) -> None:
    shown = ollama_client.show("llama3.1:8b")
    assert shown.details is not None and shown.details.parameter_size


def test_ollama_unknown_model_raises_a_response_error(ollama_client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama_client.chat(
            model="no-such-model-anywhere:1b",
            messages=[{"role": "user", "content": "x"}],
            options={},
        )
    assert caught.value.status_code in (404, 502)


# --- openai ---------------------------------------------------------------------------------


def test_openai_models(openai_client: openai.OpenAI) -> None:
    ids = {m.id for m in openai_client.models.list().data}
    assert {"llama3.2:3b", "qwen3:8b"} <= ids


def test_openai_chat(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model="llama3.2:3b",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=8,
    )
    choice = reply.choices[0]
    assert choice.message.content and choice.finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 8


def test_openai_chat_streaming_with_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="llama3.2:3b",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_openai_tools_round_trip(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model="qwen3:8b",
        messages=[{"role": "user", "content": "weather in Lisbon?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments, dict)
    follow_up = openai_client.chat.completions.create(
        model="qwen3:8b",
        messages=[
            {"role": "user", "content": "weather in Lisbon?"},
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert follow_up.choices[0].message.content


def test_openai_tools_streaming(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="qwen3:8b",
            messages=[{"role": "user", "content": "get_weather for Oslo"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function is not None and calls[0].function.name == "get_weather"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_openai_embeddings(openai_client: openai.OpenAI) -> None:
    result = openai_client.embeddings.create(model="nomic-embed-text", input=["a", "b", "c"])
    assert [d.index for d in result.data] == [0, 1, 2]
    assert len(result.data[0].embedding) > 10


def test_openai_completions(openai_client: openai.OpenAI) -> None:
    reply = openai_client.completions.create(model="llama3.1:8b", prompt="The sea", max_tokens=5)
    assert reply.choices[0].text and reply.choices[0].finish_reason == "length"


def test_openai_unknown_model_raises_not_found(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(
            model="nothing-like-this:3b", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code in (404, 502)


def test_openai_http_image_url_is_refused(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="llama3.2:3b",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": "http://169.254.169.254/x"}},
                    ],
                }
            ],
        )
    assert "image" in str(caught.value).lower()
