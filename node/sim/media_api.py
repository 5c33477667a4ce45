"""The simulator's image and speech servers: OpenAI's image and transcription endpoints and the
job API of ``mlx-qwen3-asr serve``.

Owns the HTTP handlers over ``media.ImageEngine`` and ``media.SpeechEngine``:
- ``POST /v1/images/generations`` (OpenAI shape, ``b64_json`` only; herd's ``steps``, ``seed`` and
  ``negative_prompt`` accepted as extra fields, as local image servers do);
- ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``, ``language``,
  ``response_format`` ``json``/``text``/``verbose_json``);
- ``GET /health``, ``POST /transcribe`` (multipart ``audio``; answers 202 with a job id) and
  ``GET /jobs/{job_id}`` (``queued``/``processing``/``completed``/``failed`` with ``result``
  ``{text, language, chunks}``), as Qwen3-ASR's server does, Bearer key required.
Faults armed with an explicit ``path`` apply: ``http_error`` answers its status (on ``/transcribe``
the job fails instead, as a real transcription failure does), ``slow`` and ``hang`` wait
``delay_s`` real seconds first (``hang``: until the client goes away); other kinds behave as
``http_error``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from collections import OrderedDict
from typing import Any, Protocol

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .faults import Fault, FaultBook
from .media import ImageEngine, SpeechEngine, UnknownModel
from .records import Recorder


class Bookkeeping(Protocol):
    """What the media endpoints need of the simulator: its fault book and its request records."""

    faults: FaultBook
    recorder: Recorder


MAX_SIDE = 2048
MAX_JOBS = 256
HANG_S = 3600.0


def _openai_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def parse_size(size: Any) -> tuple[int, int] | None:
    """``"1024x768"`` -> (1024, 768); None when malformed or out of range."""
    if not isinstance(size, str) or "x" not in size:
        return None
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()):
        return None
    w, h = int(width), int(height)
    return (w, h) if 64 <= w <= MAX_SIDE and 64 <= h <= MAX_SIDE else None


async def _until_gone(request: Request) -> None:
    """Wait until the client goes away (bounded by ``HANG_S``), as a hung server would."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            continue

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), HANG_S)


class MediaEndpoints:
    """Handlers for the image and speech servers of one simulated device."""

    def __init__(self, sim: Bookkeeping, images: ImageEngine, speech: SpeechEngine) -> None:
        self.sim = sim
        self.images = images
        self.speech = speech
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._job_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _fault(self, request: Request, model: str | None) -> Fault | None:
        """The armed fault for this request after its delay, if any (``record`` kept)."""
        path = request.url.path
        record = self.sim.recorder.open(request.method, path, request.headers.get("user-agent"))
        record["model"] = model
        fault = self.sim.faults.take(path, model)
        if fault is not None:
            record["fault"] = fault.kind
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "hang":
                await _until_gone(request)
        failing = fault if fault is not None and fault.kind != "slow" else None
        self.sim.recorder.finish(record, "error" if failing else "completed")
        return failing

    # --- images -------------------------------------------------------------------------------

    async def generations(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _openai_error(400, "request body must be JSON")
        if not isinstance(body, dict):
            return _openai_error(400, "request body must be a JSON object")
        model, prompt = body.get("model"), body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _openai_error(400, "prompt is required", "missing_prompt")
        size = parse_size(body.get("size", "1024x1024"))
        if size is None:
            return _openai_error(400, f"invalid size {body.get('size')!r}; use WIDTHxHEIGHT")
        if body.get("response_format", "b64_json") != "b64_json":
            return _openai_error(400, "only response_format b64_json is supported")
        fault = await self._fault(request, model if isinstance(model, str) else None)
        if fault is not None:
            return _openai_error(fault.status, fault.message)
        steps, seed = body.get("steps"), body.get("seed")
        try:
            png, _ = await self.images.generate(
                str(model),
                prompt,
                size[0],
                size[1],
                int(steps) if isinstance(steps, int) and steps > 0 else None,
                int(seed) if isinstance(seed, int) else 0,
            )
        except UnknownModel:
            return _openai_error(404, f"model {model!r} not found", "model_not_found")
        data = [{"b64_json": base64.b64encode(png).decode(), "revised_prompt": prompt}]
        return JSONResponse({"created": int(time.time()), "data": data})

    # --- OpenAI transcriptions ----------------------------------------------------------------

    async def transcriptions(self, request: Request) -> Response:
        form = await request.form()
        upload, model = form.get("file"), form.get("model")
        if not isinstance(upload, UploadFile):
            return _openai_error(400, "file is required (multipart field 'file')")
        fmt = str(form.get("response_format") or "json")
        if fmt not in ("json", "text", "verbose_json"):
            return _openai_error(400, f"unsupported response_format {fmt!r}")
        audio = await upload.read()
        fault = await self._fault(request, str(model) if model else None)
        if fault is not None:
            return _openai_error(fault.status, fault.message)
        try:
            chunks, duration, _ = await self.speech.transcribe(str(model), audio)
        except UnknownModel:
            return _openai_error(404, f"model {model!r} not found", "model_not_found")
        text = " ".join(c[0] for c in chunks)
        if fmt == "text":
            return PlainTextResponse(text)
        if fmt == "json":
            return JSONResponse({"text": text})
        language = str(form.get("language") or "english")
        segments = [
            {"id": i, "start": start, "end": end, "text": words}
            for i, (words, start, end) in enumerate(chunks)
        ]
        return JSONResponse(
            {
                "task": "transcribe",
                "language": language,
                "duration": round(duration, 3),
                "text": text,
                "segments": segments,
            }
        )

    # --- Qwen3-ASR's job API ------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        processing = sum(1 for j in self.jobs.values() if j["status"] == "processing")
        queued = sum(1 for j in self.jobs.values() if j["status"] == "queued")
        return JSONResponse(
            {
                "status": "ok",
                "model": self.speech.models[0] if self.speech.models else "",
                "queued_jobs": queued,
                "processing_jobs": processing,
            }
        )

    async def submit(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").lower().startswith("bearer "):
            return JSONResponse({"detail": "Missing Authorization header"}, status_code=401)
        form = await request.form()
        upload = form.get("audio")
        if not isinstance(upload, UploadFile):
            return JSONResponse({"detail": "audio is required"}, status_code=422)
        audio = await upload.read()
        fault = await self._fault(request, None)
        job_id = f"j_{next(self._job_ids):08d}"
        job: dict[str, Any] = {"job_id": job_id, "status": "queued", "created_at": time.time()}
        self.jobs[job_id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        language = str(form.get("language") or "English")
        task = asyncio.create_task(self._run_job(job, audio, language, fault))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"job_id": job_id, "status": "queued"}, status_code=202)

    async def _run_job(
        self, job: dict[str, Any], audio: bytes, language: str, fault: Fault | None
    ) -> None:
        job["status"] = "processing"
        try:
            if fault is not None:
                raise RuntimeError(fault.message)
            model = self.speech.models[0] if self.speech.models else ""
            chunks, _, _ = await self.speech.transcribe(model, audio)
        except Exception as exc:
            job.update(status="failed", error=str(exc), completed_at=time.time())
            return
        result = {
            "text": " ".join(c[0] for c in chunks),
            "language": language,
            "chunks": [
                {"text": words, "start": start, "end": end, "chunk_index": i}
                for i, (words, start, end) in enumerate(chunks)
            ],
        }
        job.update(status="completed", result=result, completed_at=time.time())

    async def job(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").lower().startswith("bearer "):
            return JSONResponse({"detail": "Missing Authorization header"}, status_code=401)
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"detail": "Job not found"}, status_code=404)
        return JSONResponse(job)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/images/generations", self.generations, methods=["POST"]),
            Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/transcribe", self.submit, methods=["POST"]),
            Route("/jobs/{job_id}", self.job, methods=["GET"]),
        ]
