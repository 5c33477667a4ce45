"""Ollama's own image-generation models as an image backend: the router's request and the answer it
maps (field by field), the agent's split of Ollama's list by capability and version, and the
simulator's ``/api/generate`` for image models in Ollama's shape (0.14.x streams, 0.15 honours
``stream: false``, 0.32.6 refuses)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from herd_contract.heartbeat import AvailableModel
from node.backends import ollama_images as agent_side
from node.model_windows import ContextWindows
from node.sim import SimConfig, create_app
from node.sim.png import png_size, render_png
from router.backends import ollama_images

PNG = render_png(16, 8, 1, "a harbour")
B64 = base64.b64encode(PNG).decode()
IMAGE_MODEL = "x/z-image-turbo:latest"


# --- the router's side --------------------------------------------------------------------------


def test_the_request_is_ollamas_generate_with_the_image_fields() -> None:
    job = {
        "model": "x/z-image-turbo",
        "prompt": "a harbour at dawn",
        "width": 768,
        "height": 512,
        "steps": 6,
        "seed": 42,
        "negative_prompt": "fog",
    }
    path, headers, payload = ollama_images.image_request(job)
    assert path == "/api/generate"
    assert headers == b"Content-Type: application/json\r\n", "no fleet token goes to Ollama"
    assert json.loads(payload) == {
        "model": "x/z-image-turbo",
        "prompt": "a harbour at dawn",
        "stream": False,
        "width": 768,
        "height": 512,
        "steps": 6,
        "options": {"seed": 42},
    }, "seed in options as Ollama reads it; no negative prompt (Ollama has none)"
    bare = json.loads(ollama_images.image_request({"model": "m", "prompt": "p", "steps": None})[2])
    assert bare == {"model": "m", "prompt": "p", "stream": False}


def lines(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def test_a_streamed_answer_maps_to_the_png_and_its_durations() -> None:
    raw = lines(
        {"model": "m", "completed": 1, "total": 2, "done": False},
        {"model": "m", "completed": 2, "total": 2, "done": False},
        {
            "model": "m",
            "image": B64,
            "done": True,
            "done_reason": "stop",
            "total_duration": 2_500_000_000,
            "load_duration": 500_000_000,
        },
    )
    png, fields = ollama_images.image_answer(raw)
    assert png == PNG
    assert fields == {
        "total_duration": 2_500_000_000,
        "load_duration": 500_000_000,
        "generation_time_s": 2.5,
    }
    whole = json.dumps({"model": "m", "image": B64, "done": True}).encode()
    assert ollama_images.image_answer(whole) == (PNG, {}), "one JSON object (stream: false)"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (lines({"completed": 1, "total": 9, "done": False}), "ended the image stream"),
        (lines({"done": False}, {"error": "out of memory"}), "failed: out of memory"),
        (lines({"response": "hi", "done": True}), "without an image"),
        (lines({"image": "not base64!", "done": True}), "not base64"),
        (lines({"image": base64.b64encode(b"GIF89a").decode(), "done": True}), "not a PNG"),
        (b"<html>", "not JSON"),
    ],
)
def test_answers_without_a_usable_image_say_why(raw: bytes, says: str) -> None:
    with pytest.raises(ollama_images.NoImage, match=says):
        ollama_images.image_answer(raw)


# --- the agent's side ---------------------------------------------------------------------------


def test_which_ollama_versions_run_image_models() -> None:
    assert agent_side.runs_images("0.14.3") == ""
    assert agent_side.runs_images("0.32.5") == ""
    assert agent_side.runs_images("") == "", "an unknown version is given the benefit of the doubt"
    assert "need 0.14.3 or later" in agent_side.runs_images("0.14.2")
    assert "removed in 0.32.6" in agent_side.runs_images("0.33.0")


def test_image_models_leave_the_llm_list_for_an_image_backend() -> None:
    available = [
        AvailableModel(name="llama3.2:3b", capabilities=["completion", "tools"]),
        AvailableModel(name=IMAGE_MODEL, capabilities=["image"]),
        AvailableModel(name="x/flux2-klein:latest", capabilities=["image"]),
        AvailableModel(name="unknown:latest"),
    ]
    llms, report = agent_side.split("http://127.0.0.1:11434", "0.15.0", available)
    assert [m.name for m in llms] == ["llama3.2:3b", "unknown:latest"]
    assert report is not None
    assert (report.kind, report.adapter, report.url) == (
        "image",
        "ollama",
        "http://127.0.0.1:11434",
    )
    assert report.models == ["x/flux2-klein:latest", IMAGE_MODEL]
    assert (report.reachable, report.capacity, report.detail) == (True, 1, "")
    _, removed = agent_side.split("http://o:11434", "0.32.6", available)
    assert removed is not None and removed.reachable is False
    assert "removed in 0.32.6" in removed.detail
    assert agent_side.split("http://o:11434", "0.15.0", available[:1]) == (available[:1], None)


async def test_capabilities_come_from_show_unless_the_tags_list_them() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        name = json.loads(request.content)["model"]
        asked.append(name)
        return httpx.Response(200, json={"capabilities": ["image"], "details": {}})

    models = [
        AvailableModel(name=IMAGE_MODEL, digest="a"),
        AvailableModel(name="listed:latest", digest="b", capabilities=["completion"]),
    ]
    async with httpx.AsyncClient(
        base_url="http://o", transport=httpx.MockTransport(handler)
    ) as client:
        windows = ContextWindows(client)
        first = await windows.fill(models)
        again = await windows.fill(models)
    assert [m.capabilities for m in first] == [["image"], ["completion"]]
    assert [m.capabilities for m in again] == [["image"], ["completion"]]
    assert asked == [IMAGE_MODEL, "listed:latest"], "remembered by digest: asked once each"


# --- the simulator ------------------------------------------------------------------------------


def sim(version: str) -> httpx.AsyncClient:
    config = SimConfig(profile="laptop", time_scale=0, version=version, models=[IMAGE_MODEL])
    app = create_app(config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


async def test_the_simulator_lists_and_shows_an_image_model_as_ollama_does() -> None:
    async with sim("0.14.3") as client:
        [entry] = (await client.get("/api/tags")).json()["models"]
        shown = (await client.post("/api/show", json={"model": "x/z-image-turbo"})).json()
        chat = await client.post(
            "/api/chat",
            json={"model": "x/z-image-turbo", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert entry["name"] == IMAGE_MODEL and entry["details"]["format"] == "safetensors"
    assert "capabilities" not in entry, "Ollama 0.14's /api/tags lists no capabilities"
    assert shown["capabilities"] == ["image"] and shown["model_info"] is None
    assert shown["details"]["family"] == "ZImagePipeline"
    assert chat.status_code == 400


async def test_ollama_0_14_streams_progress_then_the_image() -> None:
    body = {
        "model": "x/z-image-turbo",
        "prompt": "a fox",
        "width": 64,
        "height": 32,
        "steps": 3,
        "options": {"seed": 7},
        "stream": False,
    }
    async with sim("0.14.3") as client:
        answer = await client.post("/api/generate", json=body)
        loaded = (await client.get("/api/ps")).json()["models"]
    assert answer.headers["content-type"] == "application/x-ndjson", "0.14 ignores stream: false"
    objects = [json.loads(text) for text in answer.text.splitlines()]
    assert [(o["completed"], o["total"], o["done"]) for o in objects[:-1]] == [
        (1, 3, False),
        (2, 3, False),
        (3, 3, False),
    ]
    final = objects[-1]
    assert (final["done"], final["done_reason"], final["model"]) == (
        True,
        "stop",
        "x/z-image-turbo",
    )
    assert final["total_duration"] > final["load_duration"] > 0, "a cold load, then the steps"
    png, fields = ollama_images.image_answer(answer.content)
    assert png_size(png) == (64, 32) and png == render_png(64, 32, 7, "a fox")
    assert fields["generation_time_s"] == pytest.approx(final["total_duration"] / 1e9, abs=1e-3)
    assert [m["name"] for m in loaded] == [IMAGE_MODEL], "the image model stays loaded"


async def test_later_ollamas_honour_stream_false_and_0_32_6_refuses() -> None:
    body = {"model": "x/z-image-turbo", "prompt": "a fox", "width": 64, "height": 64}
    async with sim("0.15.0") as client:
        whole = await client.post("/api/generate", json={**body, "stream": False})
        too_big = await client.post("/api/generate", json={**body, "width": 5000})
        load_only = await client.post("/api/generate", json={**body, "prompt": ""})
    assert whole.headers["content-type"].startswith("application/json")
    assert png_size(base64.b64decode(whole.json()["image"])) == (64, 64)
    assert too_big.status_code == 400
    assert too_big.json() == {"error": "width and height must be <= 4096"}
    assert load_only.json()["done_reason"] == "load"
    async with sim("0.32.6") as client:
        refused = await client.post("/api/generate", json=body)
    assert refused.status_code == 400
    assert refused.json() == {"error": "image generation models are not currently supported"}


async def test_from_ollama_0_30_the_tags_carry_the_capabilities_the_agent_reads() -> None:
    from node.collectors import OllamaReader

    config = SimConfig(
        profile="laptop", time_scale=0, version="0.30.0", models=["llama3.2:3b", IMAGE_MODEL]
    )
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        tags = {m["name"]: m for m in (await client.get("/api/tags")).json()["models"]}
    assert tags[IMAGE_MODEL]["capabilities"] == ["image"]
    assert tags["llama3.2:3b"]["capabilities"] == ["completion", "tools"]
    reader = OllamaReader("http://sim", inspect_processes=False, transport=transport)
    try:
        snapshot = await reader.read()
    finally:
        await reader.aclose()
    llms, report = agent_side.split("http://sim", snapshot.version, snapshot.available)
    assert [m.name for m in llms] == ["llama3.2:3b"]
    assert report is not None and report.models == [IMAGE_MODEL] and report.reachable
