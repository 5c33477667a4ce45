"""herd-mcp over a fleet with several backend kinds: model_list and find_model name each model's
kind and the nodes serving it, and test_inference's image and speech probes send what the router's
endpoints expect."""

from __future__ import annotations

import json

import httpx

from herd_mcp.client import RouterClient
from herd_mcp.plans import find, model_entries
from herd_mcp.router_views import FleetView

STATUS = {
    "fleet": {"nodes_total": 2, "nodes_online": 2},
    "nodes": [
        {
            "node_id": "studio",
            "status": "online",
            "ollama": {"models_available": [{"name": "llama3.2:3b", "size": 2_000_000_000}]},
            "backends": [
                {"kind": "image", "adapter": "mflux", "models": ["z-image-turbo"], "url": "x"},
                {"kind": "stt", "adapter": "qwen3-asr", "models": ["qwen3-asr"], "url": "x"},
            ],
        },
        {
            "node_id": "gpu",
            "status": "online",
            "backends": [
                {"kind": "openai", "adapter": "openai", "models": ["qwen3:0.6b"], "url": "y"},
                {"kind": "image", "models": ["sdxl"], "reachable": False, "url": "z"},
            ],
        },
    ],
}


def test_model_list_and_find_cover_every_kind() -> None:
    status = FleetView.model_validate(STATUS)
    entries = {m.name: m for m in model_entries(status)}
    assert (entries["z-image-turbo:latest"].kind, entries["z-image-turbo:latest"].nodes) == (
        "image",
        ["studio"],
    )
    assert entries["qwen3-asr:latest"].kind == "stt"
    assert entries["qwen3:0.6b"].kind == "openai"
    assert entries["llama3.2:3b"].kind == "ollama"
    assert "sdxl:latest" not in entries, "an unreachable backend's models are not offered"
    image = find(status, "z-image-turbo")
    assert image.found and (image.kind, image.served_by) == ("image", ["studio"])
    assert "image model served by studio" in image.summary
    down = find(status, "sdxl")
    assert (down.found, down.kind, down.served_by) == (False, "image", [])


async def test_media_probes_send_what_the_endpoints_expect() -> None:
    seen: list[httpx.Request] = []

    def router(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"X-Fleet-Node": "studio", "X-Fleet-Model": "z-image-turbo"}
        if request.url.path == "/api/generate-image":
            return httpx.Response(200, content=b"\x89PNG" + bytes(60), headers=headers)
        return httpx.Response(200, json={"text": "", "language": "English", "chunks": []})

    client = RouterClient("http://router", transport=httpx.MockTransport(router))
    image = await client.try_media("image", "z-image-turbo")
    speech = await client.try_media("stt", "qwen3-asr")
    await client.aclose()
    assert image.reply == "a 64-byte PNG" and image.headers["x-fleet-node"] == "studio"
    assert speech.reply == ""
    body = json.loads(seen[0].content)
    assert body == {
        "model": "z-image-turbo",
        "prompt": "a small test image",
        "width": 256,
        "height": 256,
    }
    assert seen[0].headers["x-herd-tags"] == "herd-mcp:test_inference"
    upload = seen[1].content
    assert b'name="audio"; filename="test.wav"' in upload and b"RIFF" in upload
    assert b'name="model"\r\n\r\nqwen3-asr' in upload
