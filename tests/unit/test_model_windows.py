"""Context windows come from ``/api/show`` once per model file, and reach the heartbeat."""

from __future__ import annotations

import json

import httpx

from herd_contract.heartbeat import AvailableModel
from node.collectors import OllamaReader
from node.model_windows import ContextWindows, context_length_of

TAGS = {
    "models": [
        {"name": "llama3.2:3b", "digest": "aaa", "size": 2_019_393_189},
        {"name": "qwen3:8b", "digest": "bbb", "size": 5_225_387_923},
    ]
}
WINDOWS = {"llama3.2:3b": ("llama", 131072), "qwen3:8b": ("qwen3", 40960)}


def ollama(shows: list[str], failing: set[str] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/show":
            name = json.loads(request.content)["model"]
            shows.append(name)
            if name in (failing or set()):
                return httpx.Response(500, json={"error": "busy"})
            arch, window = WINDOWS[name]
            info = {"general.architecture": arch, f"{arch}.context_length": window}
            return httpx.Response(200, json={"model_info": info})
        if request.url.path == "/api/tags":
            return httpx.Response(200, json=TAGS)
        if request.url.path == "/api/ps":
            return httpx.Response(200, json={"models": []})
        return httpx.Response(200, json={"version": "0.12.6"})

    return httpx.MockTransport(handler)


def test_the_window_is_read_from_model_info() -> None:
    assert context_length_of({"model_info": {"general.architecture": "gemma3"}}) == 0
    assert context_length_of({"model_info": {"x.context_length": 8192}}) == 8192
    assert context_length_of({"model_info": {"general.architecture": "llama"}, "y": 1}) == 0
    assert context_length_of("not an object") == 0


async def test_the_reader_fills_windows_once_per_digest() -> None:
    shows: list[str] = []
    reader = OllamaReader("http://ollama.test", inspect_processes=False, transport=ollama(shows))
    try:
        first = await reader.read()
        second = await reader.read()
    finally:
        await reader.aclose()
    assert {m.name: m.context_length for m in first.available} == {
        "llama3.2:3b": 131072,
        "qwen3:8b": 40960,
    }
    assert [m.context_length for m in second.available] == [131072, 40960]
    assert sorted(shows) == ["llama3.2:3b", "qwen3:8b"]  # the second read asked nothing


async def test_a_failed_show_is_asked_again_and_lookups_are_bounded_per_round() -> None:
    shows: list[str] = []
    models = [
        AvailableModel(name=n, digest=d) for n, d in (("llama3.2:3b", "a"), ("qwen3:8b", "b"))
    ]
    async with httpx.AsyncClient(
        base_url="http://ollama.test", transport=ollama(shows, failing={"qwen3:8b"})
    ) as client:
        windows = ContextWindows(client, per_round=1)
        once = await windows.fill(models)
        twice = await windows.fill(models)
        thrice = await windows.fill(models)
        repulled = await windows.fill([models[0].model_copy(update={"digest": "new"})])
    assert [m.context_length for m in once] == [131072, 0]  # one lookup this round
    assert [m.context_length for m in twice] == [131072, 0]  # qwen3 asked, failed
    assert [m.context_length for m in thrice] == [131072, 0]  # asked again: not remembered
    assert repulled[0].context_length == 131072
    assert shows == ["llama3.2:3b", "qwen3:8b", "qwen3:8b", "llama3.2:3b"]
    assert models[0].context_length == 0  # the input list is left alone
