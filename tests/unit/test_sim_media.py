"""The simulator's image and speech servers: their physics, the PNG and transcript they return,
OpenAI's and Qwen3-ASR's shapes, one job at a time, and faults."""

from __future__ import annotations

import asyncio
import base64
import io
import wave

import httpx
import pytest

from node.sim.engine import SimConfig
from node.sim.media import audio_duration, image_seconds, speech_seconds, transcript_chunks
from node.sim.png import png_size, render_png
from node.sim.server import create_app


def wav(seconds: float, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x01" * int(seconds * rate))
    return buffer.getvalue()


def test_physics() -> None:
    small = image_seconds("workstation", 512, 512, 4)
    assert image_seconds("workstation", 1024, 1024, 4) > small
    assert image_seconds("workstation", 512, 512, 8) > small
    assert image_seconds("mini", 512, 512, 4) > small
    assert audio_duration(wav(3.0)) == pytest.approx(3.0)
    assert audio_duration(b"ID3" + bytes(32_000)) == pytest.approx(2.0, abs=0.01)
    assert speech_seconds("laptop", 60) > speech_seconds("workstation", 60)
    chunks = transcript_chunks(b"abc", 25.0)
    assert [(c[1], c[2]) for c in chunks] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert transcript_chunks(b"abc", 25.0) == chunks, "the same audio gives the same words"
    assert png_size(render_png(300, 200, 5, "p")) == (300, 200)
    assert render_png(8, 8, 1, "a") != render_png(8, 8, 2, "a")


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = create_app(SimConfig(profile="laptop", time_scale=0))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


async def test_openai_images(client: httpx.AsyncClient) -> None:
    body = {"model": "z-image-turbo", "prompt": "a boat", "size": "320x240", "seed": 3}
    answer = (await client.post("/v1/images/generations", json=body)).json()
    png = base64.b64decode(answer["data"][0]["b64_json"])
    assert png_size(png) == (320, 240)
    assert isinstance(answer["created"], int)
    bad = await client.post("/v1/images/generations", json={**body, "size": "huge"})
    assert bad.status_code == 400 and "size" in bad.json()["error"]["message"]
    missing = await client.post("/v1/images/generations", json={**body, "model": "dall-e-3"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_openai_transcriptions_in_each_format(client: httpx.AsyncClient) -> None:
    files = {"file": ("a.wav", wav(12.0), "audio/wav")}
    verbose = await client.post(
        "/v1/audio/transcriptions",
        data={"model": "qwen3-asr", "response_format": "verbose_json", "language": "en"},
        files=files,
    )
    payload = verbose.json()
    assert payload["duration"] == pytest.approx(12.0)
    assert [(s["start"], s["end"]) for s in payload["segments"]] == [(0.0, 10.0), (10.0, 12.0)]
    assert payload["text"] == " ".join(s["text"] for s in payload["segments"])
    plain = await client.post(
        "/v1/audio/transcriptions",
        data={"model": "qwen3-asr", "response_format": "text"},
        files=files,
    )
    assert plain.headers["content-type"].startswith("text/plain") and plain.text == payload["text"]
    short = await client.post("/v1/audio/transcriptions", data={"model": "qwen3-asr"}, files=files)
    assert short.json() == {"text": payload["text"]}


async def test_qwen3_asr_job_api(client: httpx.AsyncClient) -> None:
    auth = {"authorization": "Bearer k"}
    assert (
        await client.post("/transcribe", files={"audio": ("a.wav", wav(1.0))})
    ).status_code == 401
    submitted = await client.post("/transcribe", headers=auth, files={"audio": ("a.wav", wav(1.0))})
    assert submitted.status_code == 202
    job_id = submitted.json()["job_id"]
    for _ in range(200):  # bounded poll, as a client of the real server does
        job = (await client.get(f"/jobs/{job_id}", headers=auth)).json()
        if job["status"] == "completed":
            break
        await asyncio.sleep(0.01)
    assert job["status"] == "completed"
    assert job["result"]["chunks"][0]["start"] == 0.0 and job["result"]["text"]
    assert (await client.get("/health")).json()["status"] == "ok"
    assert (await client.get("/jobs/j_missing", headers=auth)).status_code == 404


async def test_faults_fail_the_request_or_the_job(client: httpx.AsyncClient) -> None:
    fault = {
        "kind": "http_error",
        "path": "/v1/images/generations",
        "status": 503,
        "message": "gpu gone",
    }
    assert (await client.post("/_sim/faults", json=fault)).status_code in (200, 201)
    body = {"model": "flux-schnell", "prompt": "x", "size": "64x64"}
    failed = await client.post("/v1/images/generations", json=body)
    assert failed.status_code == 503 and failed.json()["error"]["message"] == "gpu gone"
    assert (await client.post("/v1/images/generations", json=body)).status_code == 200
    job_fault = {"kind": "http_error", "path": "/transcribe", "message": "decoder crashed"}
    await client.post("/_sim/faults", json=job_fault)
    auth = {"authorization": "Bearer k"}
    job_id = (
        await client.post("/transcribe", headers=auth, files={"audio": ("a", wav(1))})
    ).json()["job_id"]
    for _ in range(200):
        job = (await client.get(f"/jobs/{job_id}", headers=auth)).json()
        if job["status"] == "failed":
            break
        await asyncio.sleep(0.01)
    assert (job["status"], job["error"]) == ("failed", "decoder crashed")
