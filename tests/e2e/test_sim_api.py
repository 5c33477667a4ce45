"""The simulator as a real process, spoken to by the official ollama and openai clients."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.factories import WEATHER_TOOL
from tests.procs import get_json, running_sim

pytestmark = pytest.mark.e2e

CHAT = "llama3.2:3b"
THINKER = "qwen3:8b"
EMBEDDER = "nomic-embed-text"


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with running_sim("sim-api", "--profile", "laptop", "--time-scale", "0.002") as url:
        yield url


@pytest.fixture
def client(sim: str) -> ollama.Client:
    httpx.post(sim + "/_sim/reset", json={})
    return ollama.Client(host=sim)


def test_root_version_and_listing(sim: str, client: ollama.Client) -> None:
    root = httpx.get(sim + "/")
    assert root.text == "Ollama is running"
    assert get_json(sim + "/api/version")["version"].startswith("0.")
    names = [m.model for m in client.list().models]
    assert CHAT in names and "nomic-embed-text:latest" in names
    first = client.list().models[0]
    assert first.digest and first.size and first.details and first.details.parameter_size
    assert first.modified_at is not None


def test_show_reports_capabilities_and_model_info(client: ollama.Client) -> None:
    shown = client.show(THINKER)
    assert "thinking" in (shown.capabilities or [])
    assert shown.modelinfo and shown.modelinfo["qwen3.context_length"] == 40960
    assert shown.details and shown.details.family == "qwen3"
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("absent:1b")
    assert caught.value.status_code == 404


def test_chat_non_streaming_then_ps_shows_the_loaded_model(sim: str, client: ollama.Client) -> None:
    reply = client.chat(model=CHAT, messages=[{"role": "user", "content": "hello"}])
    assert reply.done and reply.done_reason == "stop"
    assert reply.message.role == "assistant" and reply.message.content
    assert reply.eval_count and reply.eval_duration and reply.prompt_eval_count
    assert reply.total_duration and reply.total_duration >= reply.eval_duration
    again = client.chat(model=CHAT, messages=[{"role": "user", "content": "hello"}])
    assert again.message.content == reply.message.content  # deterministic
    loaded = {m.model: m for m in client.ps().models}
    assert CHAT in loaded
    entry = loaded[CHAT]
    assert entry.context_length == 4096 and entry.size_vram == entry.size
    assert entry.expires_at is not None and entry.digest and entry.details
    records = get_json(sim + "/_sim/records", params={"path": "/api/chat"})["requests"]
    assert [r["outcome"] for r in records] == ["completed", "completed"]
    assert records[0]["body"]["messages"][0]["content"] == "hello"
    assert "ollama" in (records[0]["headers_user_agent"] or "").lower()


def test_chat_streaming_chunks_and_final_stats(sim: str, client: ollama.Client) -> None:
    chunks = list(
        client.chat(model=CHAT, messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert len(chunks) > 3
    assert all(not c.done for c in chunks[:-1])
    final = chunks[-1]
    assert final.done and final.done_reason == "stop"
    assert final.eval_count == len(chunks) - 1
    text = "".join(c.message.content or "" for c in chunks)
    whole = client.chat(model=CHAT, messages=[{"role": "user", "content": "hi"}])
    assert text == whole.message.content
    raw = httpx.post(sim + "/api/chat", json={"model": CHAT, "messages": [{"role": "user"}]})
    assert raw.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in raw.text.splitlines()]
    assert lines[-1]["done"] is True and "created_at" in lines[0]


def test_a_continued_conversation_reuses_the_prompt_cache(sim: str, client: ollama.Client) -> None:
    history = [{"role": "user", "content": "a fairly long opening question " * 20}]
    first = client.chat(model="mistral:7b", messages=history)
    assert first.prompt_eval_count and first.prompt_eval_count > 100
    history += [
        {"role": "assistant", "content": first.message.content or ""},
        {"role": "user", "content": "and then?"},
    ]
    second = client.chat(model="mistral:7b", messages=history)
    assert second.prompt_eval_count is not None and second.prompt_eval_count < 20
    client.chat(model="mistral:7b", messages=[], options={"num_ctx": 8192})  # reload
    third = client.chat(model="mistral:7b", messages=history, options={"num_ctx": 8192})
    assert third.prompt_eval_count and third.prompt_eval_count > 100  # a reload drops the cache
    record = get_json(sim + "/_sim/records", params={"path": "/api/chat"})["requests"][1]
    assert record["cached_tokens"] > 100


def test_num_predict_gives_length(client: ollama.Client) -> None:
    reply = client.chat(
        model=CHAT, messages=[{"role": "user", "content": "x"}], options={"num_predict": 3}
    )
    assert reply.done_reason == "length" and reply.eval_count == 3


def test_thinking_and_json_format(client: ollama.Client) -> None:
    reply = client.chat(model=THINKER, messages=[{"role": "user", "content": "why"}], think=True)
    assert reply.message.thinking and reply.message.content
    streamed = list(
        client.chat(
            model=THINKER, messages=[{"role": "user", "content": "why"}], think=True, stream=True
        )
    )
    assert any(c.message.thinking for c in streamed)
    assert "".join(c.message.thinking or "" for c in streamed) == reply.message.thinking
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=CHAT, messages=[{"role": "user", "content": "why"}], think=True)
    assert caught.value.status_code == 400
    as_json = client.chat(model=CHAT, messages=[{"role": "user", "content": "x"}], format="json")
    assert isinstance(json.loads(as_json.message.content or ""), dict)


def test_tool_calls_streaming_and_not(client: ollama.Client) -> None:
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    reply = client.chat(model=CHAT, messages=messages, tools=[WEATHER_TOOL])
    calls = reply.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == {"city": "Paris"}
    streamed = list(client.chat(model=CHAT, messages=messages, tools=[WEATHER_TOOL], stream=True))
    assert any(c.message.tool_calls for c in streamed)
    plain = client.chat(
        model=CHAT, messages=[{"role": "user", "content": "hi"}], tools=[WEATHER_TOOL]
    )
    assert not plain.message.tool_calls and plain.message.content


def test_generate_returns_context_and_load_unload(sim: str, client: ollama.Client) -> None:
    reply = client.generate(model=CHAT, prompt="Why is the sky blue?")
    assert reply.response and reply.done and reply.context
    streamed = list(client.generate(model=CHAT, prompt="Why is the sky blue?", stream=True))
    assert "".join(c.response or "" for c in streamed) == reply.response
    assert streamed[-1].context
    unloaded = client.generate(model=CHAT, prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert CHAT not in [m.model for m in client.ps().models]
    loaded = client.generate(model=CHAT, prompt="")
    assert loaded.done_reason == "load"
    assert CHAT in [m.model for m in client.ps().models]
    chat_load = client.chat(model="gemma3:4b", messages=[])
    assert chat_load.done_reason == "load"
    state = get_json(sim + "/_sim/state")
    assert state["loads"]["gemma3:4b"] == 1
    assert any(u["name"] == CHAT for u in state["recently_unloaded"])


def test_embed_and_legacy_embeddings(client: ollama.Client) -> None:
    result = client.embed(model=EMBEDDER, input=["alpha", "beta"])
    assert len(result.embeddings) == 2 and len(result.embeddings[0]) == 768
    assert result.embeddings[0] != result.embeddings[1]
    assert result.prompt_eval_count and result.total_duration is not None
    short = client.embed(model=EMBEDDER, input="alpha", dimensions=64)
    assert len(short.embeddings[0]) == 64
    legacy = client.embeddings(model=EMBEDDER, prompt="alpha")
    assert len(legacy.embedding) == 768


def test_pull_and_delete(sim: str, client: ollama.Client) -> None:
    statuses = [p.status for p in client.pull("qwen3:0.6b", stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "verifying sha256 digest" in statuses and "writing manifest" in statuses
    assert any((s or "").startswith("pulling ") and s != "pulling manifest" for s in statuses)
    assert "qwen3:0.6b" in [m.model for m in client.list().models]
    assert client.pull("qwen3:0.6b").status == "success"
    assert get_json(sim + "/_sim/state")["pulls"]["qwen3:0.6b"] == 2
    client.delete("qwen3:0.6b")
    assert "qwen3:0.6b" not in [m.model for m in client.list().models]
    with pytest.raises(ollama.ResponseError) as missing:
        client.delete("qwen3:0.6b")
    assert missing.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as unknown:
        client.pull("no-such-model:1b")
    assert "file does not exist" in str(unknown.value)
    raw = httpx.post(sim + "/api/pull", json={"name": "no-such-model:1b", "stream": False})
    assert raw.status_code == 500
    assert raw.json() == {"error": "pull model manifest: file does not exist"}


def test_errors_are_ollama_shaped(sim: str, client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="ghost", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "ghost" not found, try pulling it first'
    bad = httpx.post(sim + "/api/chat", content=b"{nope")
    assert bad.status_code == 400 and "error" in bad.json()
    missing = httpx.post(sim + "/api/generate", json={"prompt": "x"})
    assert missing.status_code == 400 and missing.json()["error"] == "model is required"
    too_big = httpx.post(sim + "/api/pull", json={"model": "llama3.3:70b", "stream": False})
    assert too_big.status_code == 200
    huge = httpx.post(
        sim + "/api/generate", json={"model": "llama3.3:70b", "prompt": "x", "stream": False}
    )
    assert huge.status_code == 500
    assert huge.json()["error"].startswith("model requires more system memory")


def test_openai_chat_models_and_embeddings(sim: str) -> None:
    httpx.post(sim + "/_sim/reset", json={})
    client = openai.OpenAI(base_url=sim + "/v1", api_key="unused")
    ids = [m.id for m in client.models.list().data]
    assert CHAT in ids
    done = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "hello"}], max_tokens=4
    )
    assert done.choices[0].finish_reason == "length"
    assert done.usage and done.usage.completion_tokens == 4
    full = client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "hi"}])
    assert full.choices[0].finish_reason == "stop" and full.choices[0].message.content
    stream = client.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == full.choices[0].message.content
    assert [c.choices[0].finish_reason for c in pieces if c.choices][-1] == "stop"
    assert pieces[-1].usage and pieces[-1].usage.completion_tokens
    tooled = client.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    choice = tooled.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    vectors = client.embeddings.create(model=EMBEDDER, input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 768
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "x"}])
    raw = httpx.post(
        sim + "/v1/chat/completions",
        json={"model": CHAT, "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")
    legacy = client.completions.create(model=CHAT, prompt="Once", max_tokens=2)
    assert legacy.choices[0].finish_reason == "length" and legacy.choices[0].text


def test_anthropic_and_responses_endpoints_follow_the_reported_version(sim: str) -> None:
    claude = anthropic.Anthropic(base_url=sim, api_key="unused", max_retries=0)
    message = claude.messages.create(
        model=CHAT, max_tokens=40, messages=[{"role": "user", "content": "hello"}]
    )
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    responses = openai.OpenAI(base_url=sim + "/v1", api_key="unused", max_retries=0)
    assert responses.responses.create(model=CHAT, input="hello").output_text
    httpx.post(sim + "/_sim/config", json={"version": "0.13.0"}).raise_for_status()
    try:
        old = httpx.post(sim + "/v1/messages", json={"model": CHAT, "max_tokens": 5})
        assert old.status_code == 404 and old.text == "404 page not found"
        assert get_json(sim + "/api/version")["version"] == "0.13.0"
    finally:
        httpx.post(sim + "/_sim/config", json={"version": "0.14.3"}).raise_for_status()
