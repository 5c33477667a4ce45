"""The HTTP adapters against stand-in servers: OpenAI images, OpenAI transcriptions, Qwen3-ASR's
job API and an OpenAI-compatible LLM server. Each test asserts the request the adapter sent and the
answer it mapped, field by field, and how each failure is classified."""

from __future__ import annotations

import json

import httpx
import pytest

from node.backends.jobs import (
    AudioJob,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BadJob,
    ImageJob,
    TranscriptChunk,
)
from node.backends.openai_images import OpenAIImages
from node.backends.openai_llm import OpenAILLM
from node.backends.openai_speech import OpenAITranscriptions
from node.backends.qwen3_asr import Qwen3Asr
from tests.standins.openai_server import PNG, StandIn

URL = "http://standin:9000"
AUDIO = b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64)


@pytest.fixture
def standin() -> StandIn:
    return StandIn()


def transport(standin: StandIn) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=standin.app)


# --- OpenAI images ----------------------------------------------------------------------------


async def test_image_request_and_answer_field_by_field(standin: StandIn) -> None:
    images = OpenAIImages(URL, models=["sdxl"], api_key="k1", transport=transport(standin))
    job = ImageJob("sdxl", "a harbour at dawn", 768, 512, steps=12, seed=7, negative_prompt="fog")
    result = await images.generate(job)
    [sent] = standin.requests
    assert (sent["method"], sent["path"]) == ("POST", "/v1/images/generations")
    assert sent["headers"]["authorization"] == "Bearer k1"
    assert sent["json"] == {
        "model": "sdxl",
        "prompt": "a harbour at dawn",
        "n": 1,
        "size": "768x512",
        "response_format": "b64_json",
        "steps": 12,
        "seed": 7,
        "negative_prompt": "fog",
    }
    assert result.png == PNG
    assert (result.model, result.seed) == ("sdxl", 7)
    assert result.seconds >= 0


async def test_image_request_leaves_out_unset_extras(standin: StandIn) -> None:
    images = OpenAIImages(URL, models=["sdxl"], transport=transport(standin))
    await images.generate(ImageJob("sdxl", "x", 256, 256))
    body = standin.requests[0]["json"]
    assert set(body) == {"model", "prompt", "n", "size", "response_format"}
    assert "authorization" not in standin.requests[0]["headers"]


async def test_image_models_come_from_v1_models_unless_configured(standin: StandIn) -> None:
    probed = OpenAIImages(URL, transport=transport(standin))
    report = await probed.report()
    assert (report.kind, report.adapter, report.models) == (
        "image",
        "openai",
        ["sdxl", "whisper-1"],
    )
    assert probed.serves("sdxl") and not probed.serves("flux-dev")
    fixed = await OpenAIImages(URL, models=["flux"], transport=transport(standin)).report()
    assert fixed.models == ["flux"]
    assert [r["path"] for r in standin.requests] == ["/v1/models", "/v1/models"]


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        ((400, {"error": {"message": "prompt too long"}}), BadJob, "prompt too long"),
        ((500, {"error": {"message": "CUDA OOM"}}), BackendError, "CUDA OOM"),
        ((200, {"data": []}), BackendError, "no data\\[0\\].b64_json"),
        ((200, {"data": [{"b64_json": "bm90IGEgcG5n"}]}), BackendError, "not a PNG"),
    ],
)
async def test_image_failures_are_classified(
    standin: StandIn, reply: tuple[int, object], error: type[Exception], message: str
) -> None:
    standin.replies["/v1/images/generations"] = reply
    images = OpenAIImages(URL, models=["sdxl"], transport=transport(standin))
    with pytest.raises(error, match=message):
        await images.generate(ImageJob("sdxl", "x"))
    assert images.occupancy.busy == 0


async def test_unreachable_and_slow_servers() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    down = OpenAIImages(URL, models=["a"], transport=httpx.MockTransport(refuse))
    with pytest.raises(BackendUnavailable, match="unreachable"):
        await down.generate(ImageJob("a", "x"))
    report = await OpenAIImages(URL, transport=httpx.MockTransport(refuse)).report()
    assert report.reachable is False and "unreachable" in report.detail
    slow = OpenAITranscriptions(URL, models=["w"], transport=httpx.MockTransport(stall))
    with pytest.raises(BackendTimeout):
        await slow.transcribe(AudioJob("w", AUDIO))


# --- OpenAI transcriptions --------------------------------------------------------------------


async def test_transcription_request_and_answer_field_by_field(standin: StandIn) -> None:
    stt = OpenAITranscriptions(URL, models=["whisper-1"], transport=transport(standin))
    job = AudioJob("whisper-1", AUDIO, "talk.wav", "audio/wav", language="en")
    transcript = await stt.transcribe(job)
    [sent] = standin.requests
    assert (sent["method"], sent["path"]) == ("POST", "/v1/audio/transcriptions")
    assert sent["form"] == {
        "model": "whisper-1",
        "response_format": "verbose_json",
        "language": "en",
    }
    assert sent["files"] == {"file": ("talk.wav", "audio/wav", AUDIO)}
    assert transcript.text == "Hello there. General Kenobi."
    assert (transcript.language, transcript.model, transcript.duration) == (
        "english",
        "whisper-1",
        4.5,
    )
    assert transcript.chunks == [
        TranscriptChunk("Hello there.", 0.0, 2.0),
        TranscriptChunk("General Kenobi.", 2.0, 4.5),
    ]


async def test_a_server_answering_only_text_gives_no_chunks(standin: StandIn) -> None:
    standin.replies["/v1/audio/transcriptions"] = (200, {"text": "just words"})
    stt = OpenAITranscriptions(URL, models=["w"], transport=transport(standin))
    transcript = await stt.transcribe(AudioJob("w", AUDIO))
    assert (transcript.text, transcript.chunks, transcript.duration) == ("just words", [], None)
    assert "language" not in standin.requests[0]["form"]


async def test_transcription_without_text_is_a_backend_error(standin: StandIn) -> None:
    standin.replies["/v1/audio/transcriptions"] = (200, {"segments": []})
    stt = OpenAITranscriptions(URL, models=["w"], transport=transport(standin))
    with pytest.raises(BackendError, match="no text"):
        await stt.transcribe(AudioJob("w", AUDIO))


# --- Qwen3-ASR's job server -------------------------------------------------------------------


async def test_qwen3_asr_submits_polls_and_maps_the_job(standin: StandIn) -> None:
    asr = Qwen3Asr(URL, api_key="secret", poll_s=0, transport=transport(standin))
    transcript = await asr.transcribe(AudioJob("qwen3-asr", AUDIO, "memo.wav", "audio/wav", "en"))
    submit, *polls = standin.requests
    assert (submit["method"], submit["path"]) == ("POST", "/transcribe")
    assert submit["headers"]["authorization"] == "Bearer secret"
    assert submit["form"] == {"timestamps": "true", "language": "en"}
    assert submit["files"] == {"audio": ("memo.wav", "audio/wav", AUDIO)}
    assert [p["path"] for p in polls] == ["/jobs/j_1", "/jobs/j_1"]
    assert transcript.text == "Hello there. General Kenobi."
    assert (transcript.language, transcript.model, transcript.duration) == (
        "English",
        "qwen3-asr",
        4.5,
    )
    assert transcript.chunks == [
        TranscriptChunk("Hello there.", 0.0, 2.0),
        TranscriptChunk("General Kenobi.", 2.0, 4.5),
    ]


async def test_qwen3_asr_failed_job_and_health(standin: StandIn) -> None:
    standin.job_polls = [{"job_id": "j_1", "status": "failed", "error": "audio too long"}]
    asr = Qwen3Asr(URL, poll_s=0, transport=transport(standin))
    with pytest.raises(BackendError, match="Qwen3-ASR failed: audio too long"):
        await asr.transcribe(AudioJob("qwen3-asr", AUDIO))
    report = await asr.report()
    assert (report.kind, report.adapter, report.models, report.reachable) == (
        "stt",
        "qwen3-asr",
        ["qwen3-asr"],
        True,
    )


async def test_qwen3_asr_job_that_never_finishes_times_out(standin: StandIn) -> None:
    standin.job_polls = [{"job_id": "j_1", "status": "processing"}]
    asr = Qwen3Asr(URL, poll_s=0, timeout_s=0.2, transport=transport(standin))
    with pytest.raises(BackendTimeout, match="did not finish"):
        await asr.transcribe(AudioJob("qwen3-asr", AUDIO))
    assert asr.occupancy.busy == 0


async def test_qwen3_asr_launch_uses_a_running_server(standin: StandIn) -> None:
    asr = Qwen3Asr(URL, transport=transport(standin))
    assert await asr.launch(program="/nonexistent/mlx-qwen3-asr") is True
    assert [r["path"] for r in standin.requests] == ["/health"]


# --- OpenAI-compatible LLM server -------------------------------------------------------------


async def test_llm_server_report(standin: StandIn) -> None:
    llm = OpenAILLM(URL, capacity=3, transport=transport(standin))
    report = await llm.report()
    assert (report.kind, report.adapter, report.url) == ("openai", "openai", URL)
    assert (report.models, report.capacity, report.reachable) == (["sdxl", "whisper-1"], 3, True)
    standin.replies["/v1/models"] = (503, {"error": "loading model"})
    down = await llm.report()
    assert down.reachable is False and "loading model" in down.detail


async def test_a_second_ollama_reports_its_tags_and_its_image_models_apart() -> None:
    def ollama(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "0.20.1"})
        if request.url.path == "/api/show":
            name = json.loads(request.content)["model"]
            caps = ["image"] if name.startswith("x/") else ["completion"]
            return httpx.Response(200, json={"capabilities": caps, "model_info": None})
        assert request.url.path == "/api/tags"
        names = ["llama3.2:3b", "qwen3:8b", "x/flux2-klein:latest"]
        return httpx.Response(200, json={"models": [{"name": n} for n in names]})

    from node.backends.ollama import ExtraOllama

    gpu2 = ExtraOllama(URL, capacity=2, transport=httpx.MockTransport(ollama))
    report, images = await gpu2.reports()
    assert (report.kind, report.adapter, report.models, report.capacity) == (
        "ollama",
        "ollama",
        ["llama3.2:3b", "qwen3:8b"],
        2,
    )
    assert (images.kind, images.adapter, images.url, images.models, images.reachable) == (
        "image",
        "ollama",
        URL,
        ["x/flux2-klein:latest"],
        True,
    )
