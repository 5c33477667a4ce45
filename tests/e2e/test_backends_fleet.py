"""Several backends per node, end to end: a router, two agents with simulators, and a second
simulator playing an OpenAI-compatible LLM, image and whisper server.

n1 has its simulated Ollama, an ``openai`` backend (the second simulator, whose models n1's Ollama
lacks), the simulated image server and the simulated Qwen3-ASR server, and from its
``backends.json`` a whisper-style ``stt/openai`` backend on the second simulator with a 1 s timeout
and an image backend whose server is down. n2's simulated Ollama (0.14.3) has an image model of its
own, which its agent reports as an ``image`` backend served by that Ollama. Image and speech go
through both endpoint styles with the official ``openai`` client and with curl; failures give
clear errors and traces.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from node.sim.png import png_size
from tests.fleet import Fleet, start_router
from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e

OPENAI_MODELS = "qwen3:0.6b,all-minilm:latest"
OLLAMA_IMAGE = "x/z-image-turbo:latest"


def wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        writer.writeframes(b"\x00\x10" * int(seconds * 16_000))
    return buffer.getvalue()


class Backends:
    def __init__(self, fleet: Fleet, server: str, tmp: Path) -> None:
        self.fleet = fleet
        self.server = server
        """The second simulator: OpenAI LLM, image and transcription server."""
        self.tmp = tmp

    @property
    def url(self) -> str:
        return self.fleet.router_url

    def traces(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/dashboard/api/traces", params={"limit": 200}, timeout=10)
        data = answer.json()
        return data["traces"] if isinstance(data, dict) else data


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    tmp = tmp_path_factory.mktemp("backends")
    port = free_port()
    server = Proc(
        python_module(
            "node.sim", "--port", str(port), "--time-scale", "0", "--models", OPENAI_MODELS,
            "--stt-models", "whisper-1",
        ),
        name="openai-server",
    )  # fmt: skip
    server_url = f"http://127.0.0.1:{port}"
    router_url, router = start_router(tmp / "router")
    fleet = Fleet(router_url=router_url, router=router, data_dir=tmp / "router")
    try:
        wait_http_ok(f"{server_url}/api/version", server)
        (tmp / "n1").mkdir()
        (tmp / "n1" / "backends.json").write_text(
            json.dumps(
                {
                    "backends": [
                        {"kind": "stt", "adapter": "openai", "url": server_url,
                         "models": ["whisper-1"], "timeout_s": 1},
                        {"kind": "image", "adapter": "openai", "url": f"http://127.0.0.1:{free_port()}",
                         "models": ["sdxl"]},
                    ]
                }
            )
        )  # fmt: skip
        common = ["--gateway-host", "127.0.0.1", "--no-discover-backends"]
        fleet.add_node(
            "n1", "laptop", time_scale=0,
            extra=[*common, "--gateway-port", str(free_port()), "--data-dir", str(tmp / "n1"),
                   "--sim-image", "--sim-speech", "--backend", f"openai={server_url}"],
        )  # fmt: skip

        fleet.add_node(
            "n2", "mini", time_scale=0,
            extra=["--no-discover-backends", "--sim-models", f"llama3.2:1b,{OLLAMA_IMAGE}"],
        )  # fmt: skip

        def every_backend_reported() -> bool:
            nodes = {n["node_id"]: n for n in fleet.status()["nodes"]}
            n2 = nodes.get("n2", {}).get("backends", [])
            return len(nodes.get("n1", {}).get("backends", [])) == 5 and len(n2) == 1

        wait_until(every_backend_reported, timeout=20, what="every backend in the heartbeats")
        yield Backends(fleet, server_url, tmp)
    finally:
        fleet.stop()
        server.stop()


def client(backends: Backends) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{backends.url}/v1", api_key="unused", max_retries=0)


def curl(*args: str) -> tuple[dict[str, str], bytes]:
    assert shutil.which("curl"), "curl is needed (CI installs it)"
    out = subprocess.run(["curl", "-sS", "-i", *args], capture_output=True, check=True, timeout=60)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode().splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    headers["status"] = head.decode().split()[1]
    return headers, body


def test_every_kind_is_listed_with_its_kind(backends: Backends) -> None:
    tags = {m["name"]: m for m in httpx.get(f"{backends.url}/api/tags").json()["models"]}
    assert tags["z-image-turbo"]["kind"] == "image" and tags["z-image-turbo"]["nodes"] == ["n1"]
    assert tags["qwen3-asr"]["kind"] == "stt"
    assert tags["whisper-1"]["kind"] == "stt" and tags["whisper-1"]["nodes"] == ["n1"]
    assert tags["qwen3:0.6b"]["kind"] == "openai"
    assert tags["llama3.2:3b"]["kind"] == "ollama"
    assert "sdxl" not in tags, "a backend that does not answer lists no models"
    listed = {m.model for m in ollama.Client(host=backends.url).list().models}
    assert "z-image-turbo" in listed, "the official client reads the mixed list"
    kinds = {m.id: m.model_extra["kind"] for m in client(backends).models.list().data}  # type: ignore[index]
    assert (kinds["flux-schnell"], kinds["qwen3:0.6b"], kinds["mistral:7b"]) == (
        "image",
        "openai",
        "ollama",
    )
    nodes = {n["node_id"]: n for n in backends.fleet.status()["nodes"]}
    by_kind = {b["kind"]: b for b in nodes["n1"]["backends"]}
    assert by_kind["image"]["capacity"] == 1 and by_kind["openai"]["url"] == backends.server
    assert nodes["n1"]["capabilities"]["image_generation"] is True
    down = [b for b in nodes["n1"]["backends"] if b["kind"] == "image" and "sdxl" in b["models"]]
    assert down[0]["reachable"] is False
    image_models = httpx.get(f"{backends.url}/api/image-models").json()["models"]
    assert {m["name"] for m in image_models} == {
        "z-image-turbo",
        "flux-schnell",
        "flux-dev",
        OLLAMA_IMAGE,
    }


def test_images_through_both_endpoint_styles(backends: Backends) -> None:
    answer = client(backends).images.generate(
        model="z-image-turbo", prompt="a lighthouse", size="256x128"
    )
    assert answer.data and answer.data[0].b64_json
    assert png_size(base64.b64decode(answer.data[0].b64_json)) == (256, 128)
    body = json.dumps(
        {"model": "flux-schnell", "prompt": "a fox", "width": 320, "height": 240, "seed": 9}
    )
    headers, png = curl("-X", "POST", f"{backends.url}/api/generate-image", "-d", body)
    assert headers["status"] == "200" and headers["content-type"] == "image/png"
    assert png_size(png) == (320, 240)
    assert (headers["x-fleet-node"], headers["x-fleet-model"]) == ("n1", "flux-schnell")
    assert float(headers["x-generation-time"]) >= 0

    def both_traced() -> bool:  # traces are written in batches, off the request path
        recorded = {
            r["model"]
            for r in backends.traces()
            if r["kind"] == "image" and r["status"] == "completed"
        }
        return recorded >= {"z-image-turbo:latest", "flux-schnell:latest"}

    wait_until(both_traced, timeout=10, what="both image requests traced")


def test_an_ollama_image_model_through_both_endpoint_styles(backends: Backends) -> None:
    nodes = {n["node_id"]: n for n in backends.fleet.status()["nodes"]}
    [image] = nodes["n2"]["backends"]
    assert (image["kind"], image["adapter"], image["models"]) == ("image", "ollama", [OLLAMA_IMAGE])
    assert image["url"] == nodes["n2"]["ollama_url"], "served by the node's Ollama itself"
    available = [m["name"] for m in nodes["n2"]["ollama"]["models_available"]]
    assert available == ["llama3.2:1b"], "the image model is not offered as an LLM"
    tags = {m["name"]: m for m in httpx.get(f"{backends.url}/api/tags").json()["models"]}
    assert (tags[OLLAMA_IMAGE]["kind"], tags[OLLAMA_IMAGE]["nodes"]) == ("image", ["n2"])
    raw = client(backends).images.with_raw_response.generate(
        model="x/z-image-turbo", prompt="a harbour", size="256x128"
    )
    answer = raw.parse()
    assert answer.data and answer.data[0].b64_json
    assert png_size(base64.b64decode(answer.data[0].b64_json)) == (256, 128)
    assert float(raw.headers["x-fleet-score"]) == 20.0, "no job seen yet: the prior per image"
    first_s = float(raw.headers["x-generation-time"])
    assert first_s > 0, "Ollama's total_duration"
    body = json.dumps({"model": "x/z-image-turbo", "prompt": "a fox", "steps": 3, "seed": 5})
    headers, png = curl("-X", "POST", f"{backends.url}/api/generate-image", "-d", body)
    assert headers["status"] == "200" and headers["content-type"] == "image/png"
    assert png_size(png) == (1024, 1024)
    assert (headers["x-fleet-node"], headers["x-fleet-model"]) == ("n2", "x/z-image-turbo")
    assert float(headers["x-fleet-score"]) == pytest.approx(first_s, abs=0.01), (
        "the estimate is the time the first image took there"
    )
    sim_url = backends.fleet.sim("n2").url
    records = httpx.get(f"{sim_url}/_sim/records").json()["requests"]
    sent = [r["body"] for r in records if r["path"] == "/api/generate"]
    assert sent == [
        {"model": "x/z-image-turbo", "prompt": "a harbour", "stream": False, "width": 256,
         "height": 128},
        {"model": "x/z-image-turbo", "prompt": "a fox", "stream": False, "width": 1024,
         "height": 1024, "steps": 3, "options": {"seed": 5}},
    ]  # fmt: skip
    shown = ollama.Client(host=backends.url).show("x/z-image-turbo")
    assert (
        shown.capabilities == ["image"] and shown.details and shown.details.format == "safetensors"
    )
    wrong = httpx.post(f"{backends.url}/api/chat", json={"model": OLLAMA_IMAGE, "messages": []})
    assert wrong.status_code == 400 and "/api/generate-image" in wrong.json()["error"]


def test_ollamas_own_image_api_through_the_router(backends: Backends) -> None:
    llm = ollama.Client(host=backends.url)
    whole = llm.generate(model="x/z-image-turbo", prompt="a heron", width=64, height=32, steps=2)
    assert whole.done and whole.image, "Ollama 0.14 streamed; the router answers the last line"
    assert png_size(base64.b64decode(whole.image)) == (64, 32)
    parts = list(
        llm.generate(
            model="x/z-image-turbo", prompt="a heron", width=64, height=64, steps=3, stream=True
        )
    )
    assert [(p.completed, p.total, p.done) for p in parts[:-1]] == [
        (1, 3, False),
        (2, 3, False),
        (3, 3, False),
    ]
    assert parts[-1].done and png_size(base64.b64decode(parts[-1].image or "")) == (64, 64)


def test_transcription_through_both_endpoint_styles(backends: Backends) -> None:
    audio = wav(12.0)
    verbose = client(backends).audio.transcriptions.create(
        model="qwen3-asr", file=("memo.wav", audio, "audio/wav"), response_format="verbose_json"
    )
    assert verbose.text and verbose.duration == pytest.approx(12.0)
    assert [(s.start, s.end) for s in verbose.segments or []] == [(0.0, 10.0), (10.0, 12.0)]
    plain = client(backends).audio.transcriptions.create(
        model="whisper-1", file=("memo.wav", audio, "audio/wav"), response_format="text"
    )
    assert isinstance(plain, str) and plain.strip()
    path = backends.tmp / "memo.wav"
    path.write_bytes(audio)
    headers, body = curl(
        "-X",
        "POST",
        f"{backends.url}/api/transcribe",
        "-F",
        f"audio=@{path}",
        "-F",
        "model=qwen3-asr",
    )
    answer = json.loads(body)
    assert headers["status"] == "200" and headers["x-fleet-node"] == "n1"
    assert answer["text"] == verbose.text
    assert [(c["start"], c["end"]) for c in answer["chunks"]] == [(0.0, 10.0), (10.0, 12.0)]
    assert answer["language"]


def test_openai_backend_serves_ollama_and_openai_requests(backends: Backends) -> None:
    llm = ollama.Client(host=backends.url)
    whole = llm.chat(model="qwen3:0.6b", messages=[{"role": "user", "content": "hello"}])
    assert whole.message.content and whole.done and (whole.eval_count or 0) > 0
    pieces = list(
        llm.chat(model="qwen3:0.6b", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert pieces[-1].done and "".join(p.message.content or "" for p in pieces).strip()
    generated = llm.generate(model="qwen3:0.6b", prompt="say something")
    assert generated.response and generated.done
    vectors = llm.embed(model="all-minilm", input=["a", "b"])
    assert len(vectors.embeddings) == 2 and len(vectors.embeddings[0]) > 0
    stream = client(backends).chat.completions.create(
        model="qwen3:0.6b", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.strip()
    records = httpx.get(f"{backends.server}/_sim/records").json()["requests"]
    paths = {r["path"] for r in records}
    assert {"/v1/chat/completions", "/v1/embeddings"} <= paths
    assert "/api/chat" not in paths, "the openai backend is spoken to in its own format"
    sent = [r["body"] for r in records if r["path"] == "/v1/chat/completions"]
    assert any(b.get("stream_options") == {"include_usage": True} for b in sent)


def test_wrong_kind_bad_upload_and_limits(backends: Backends) -> None:
    wrong = httpx.post(f"{backends.url}/api/chat", json={"model": "z-image-turbo", "messages": []})
    assert wrong.status_code == 400 and "/api/generate-image" in wrong.json()["error"]
    llm_for_image = httpx.post(
        f"{backends.url}/v1/images/generations", json={"model": "llama3.2:3b", "prompt": "x"}
    )
    assert llm_for_image.status_code == 400
    assert "/api/chat" in llm_for_image.json()["error"]["message"]
    not_audio = httpx.post(
        f"{backends.url}/api/transcribe", files={"audio": ("x.wav", b"hello there")}
    )
    assert not_audio.status_code == 400 and "WAV, MP3" in not_audio.json()["error"]
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client(backends).audio.transcriptions.create(
            model="qwen3-asr", file=("a.wav", wav(1), "audio/wav"), response_format="srt"
        )
    bad_size = httpx.post(
        f"{backends.url}/api/generate-image",
        json={"model": "z-image-turbo", "prompt": "x", "width": 5},
    )
    assert bad_size.status_code == 400 and "width" in bad_size.json()["error"]
    port = int(backends.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/api/transcribe")
    connection.putheader("Content-Type", "multipart/form-data; boundary=b")
    connection.putheader("Content-Length", str(200 * 2**20))
    connection.endheaders()
    connection.send(b"--b\r\n")
    too_big = connection.getresponse()
    assert too_big.status == 413 and "limited to" in json.loads(too_big.read())["error"]
    connection.close()
    wait_until(
        lambda: [
            r
            for r in backends.traces()
            if r["status"] == "rejected" and r["kind"] in ("image", "transcribe")
        ],
        timeout=10,
        what="refused image and speech requests traced",
    )


def test_backend_down_and_timeout_are_clear_and_traced(backends: Backends) -> None:
    down = httpx.post(f"{backends.url}/api/generate-image", json={"model": "sdxl", "prompt": "x"})
    assert down.status_code == 503, (down.headers, down.content[:300])
    assert "n1's openai image backend is unreachable" in down.json()["error"]
    fault = {"kind": "hang", "path": "/v1/audio/transcriptions", "count": 1}
    httpx.post(f"{backends.server}/_sim/faults", json=fault).raise_for_status()
    slow = httpx.post(
        f"{backends.url}/api/transcribe",
        files={"audio": ("a.wav", wav(2), "audio/wav")},
        data={"model": "whisper-1"},
        timeout=30,
    )
    assert slow.status_code == 502
    assert "did not answer within 1s" in slow.json()["error"]
    wait_until(
        lambda: any(
            r["status"] in ("failed", "retried") and r["node_id"] == "n1"
            for r in backends.traces()
            if r["kind"] == "transcribe" and r["model"] == "whisper-1:latest"
        ),
        timeout=10,
        what="the timed-out transcription traced as failed on n1",
    )
    gpu_gone = {
        "kind": "http_error",
        "path": "/v1/images/generations",
        "status": 500,
        "message": "gpu gone",
        "count": 1,
    }
    n1_sim = backends.fleet.sim("n1").url
    httpx.post(f"{n1_sim}/_sim/faults", json=gpu_gone).raise_for_status()
    with pytest.raises(openai.APIStatusError, match="gpu gone") as caught:
        client(backends).images.generate(model="flux-dev", prompt="x", size="64x64")
    assert caught.value.status_code == 502


def test_health_reports_image_and_transcription(backends: Backends) -> None:
    report = httpx.get(f"{backends.url}/dashboard/api/health", timeout=10).json()
    found = {c["check_id"]: c for c in report["checks"]}
    image = found.get("image_activity") or found["image_failures"]
    assert image["data"]["jobs"] >= 2
    speech = found.get("transcribe_activity") or found["transcribe_failures"]
    assert speech["data"]["failed"] >= 1, "the timed-out transcription counts as a failure"
