"""The agent's own HTTP endpoint, where the router sends image and speech jobs for this node.

Owns the gateway's ASGI app (``create_gateway``) over ``backends.inventory.Backends``:
- ``POST /herd/images``: JSON ``{model, prompt, width, height, steps, seed, negative_prompt}`` ->
  ``image/png`` with ``X-Generation-Time`` (seconds) and ``X-Image-Seed`` when known;
- ``POST /herd/transcriptions``: multipart ``audio`` (+ ``model``, ``language``) -> JSON
  ``{text, language, model, duration, seconds, chunks[{text, start, end}]}``;
- ``GET /herd/backends``: every backend's report.
Failures answer ``{"error": message, "reason": reason}`` with the adapter's status (400 bad job,
502 backend failed, 503 unavailable, 504 timeout; 413 upload too large; 401 without the fleet
token when the fleet has one). The router is the only intended client; no scoring or queueing here
beyond each adapter's own slots.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from node.backends.inventory import Backends
from node.backends.jobs import AudioJob, BackendError, ImageJob

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
MAX_SIDE = 4096
MAX_STEPS = 200


def _error(status: int, message: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": message, "reason": reason}, status_code=status)


def image_job(body: Any) -> ImageJob | str:
    """The job in a ``/herd/images`` body, or what is wrong with it."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    model, prompt = body.get("model"), body.get("prompt")
    if not isinstance(model, str) or not model:
        return "model is required"
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    width, height = body.get("width", 1024), body.get("height", 1024)
    if not all(isinstance(v, int) and 64 <= v <= MAX_SIDE for v in (width, height)):
        return f"width and height must be whole numbers of pixels from 64 to {MAX_SIDE}"
    steps, seed = body.get("steps"), body.get("seed")
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS):
        return f"steps must be a whole number from 1 to {MAX_STEPS}"
    if seed is not None and not isinstance(seed, int):
        return "seed must be a whole number"
    negative = body.get("negative_prompt")
    return ImageJob(
        model=model,
        prompt=prompt,
        width=width,
        height=height,
        steps=steps,
        seed=seed,
        negative_prompt=negative if isinstance(negative, str) and negative else None,
    )


class Gateway:
    def __init__(self, backends: Backends, fleet_token: str | None, gateway_url: str) -> None:
        self.backends = backends
        self.token = fleet_token
        self.url = gateway_url

    def _refused(self, request: Request) -> Response | None:
        if not self.token:
            return None
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return None
        return _error(401, "this node's gateway needs the fleet token", "unauthorized")

    async def images(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            job = image_job(await request.json())
        except ValueError:
            job = "body must be JSON"
        if isinstance(job, str):
            return _error(400, job, "bad_request")
        backend = self.backends.image_backend(job.model)
        if backend is None:
            return _error(404, f"no image backend on this node serves {job.model!r}", "no_model")
        try:
            result = await backend.generate(job)
        except BackendError as exc:
            return _error(exc.status, exc.message, exc.reason)
        headers = {"X-Generation-Time": f"{result.seconds:.3f}"}
        if result.seed is not None:
            headers["X-Image-Seed"] = str(result.seed)
        return Response(result.png, media_type="image/png", headers=headers)

    async def transcriptions(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            return _error(413, f"audio larger than {MAX_UPLOAD_BYTES} bytes", "too_large")
        form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        upload, model = form.get("audio"), form.get("model")
        if not isinstance(upload, UploadFile):
            return _error(400, "audio is required (multipart field 'audio')", "bad_request")
        if not isinstance(model, str) or not model:
            return _error(400, "model is required", "bad_request")
        backend = self.backends.speech_backend(model)
        if backend is None:
            return _error(404, f"no speech backend on this node serves {model!r}", "no_model")
        language = form.get("language")
        job = AudioJob(
            model=model,
            audio=await upload.read(),
            filename=upload.filename or "audio",
            content_type=upload.content_type or "application/octet-stream",
            language=language if isinstance(language, str) and language else None,
        )
        try:
            transcript = await backend.transcribe(job)
        except BackendError as exc:
            return _error(exc.status, exc.message, exc.reason)
        return JSONResponse(asdict(transcript))

    async def listing(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        reports = await self.backends.reports(self.url)
        return JSONResponse({"backends": [asdict(r) for r in reports]})


def create_gateway(backends: Backends, fleet_token: str | None, gateway_url: str) -> Starlette:
    gateway = Gateway(backends, fleet_token, gateway_url)
    return Starlette(
        routes=[
            Route("/herd/images", gateway.images, methods=["POST"]),
            Route("/herd/transcriptions", gateway.transcriptions, methods=["POST"]),
            Route("/herd/backends", gateway.listing, methods=["GET"]),
        ]
    )
