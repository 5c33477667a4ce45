"""A stand-in OpenAI-compatible server (an image server, a whisper server, llama.cpp's server) and
a stand-in Qwen3-ASR job server, as ASGI apps that record every request they get.

Each request is kept as ``{method, path, headers, json, form, files}`` (files as
``{field: (filename, content_type, bytes)}``) so tests can assert what an adapter sent, field by
field. ``replies`` maps a path to the ``(status, body)`` to answer with; the defaults are what the
real servers answer.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from node.sim.png import render_png

PNG = render_png(64, 32, 1, "stand-in")
VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 4.5,
    "text": " Hello there. General Kenobi. ",
    "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 2.0, "text": " Hello there."},
        {"id": 1, "seek": 0, "start": 2.0, "end": 4.5, "text": " General Kenobi."},
    ],
}
JOB_RESULT = {
    "text": "Hello there. General Kenobi.",
    "language": "English",
    "chunks": [
        {"text": "Hello there.", "start": 0.0, "end": 2.0, "chunk_index": 0, "language": "English"},
        {"text": "General Kenobi.", "start": 2.0, "end": 4.5, "chunk_index": 1},
    ],
}


class StandIn:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: dict[str, tuple[int, Any]] = {
            "/v1/models": (200, {"object": "list", "data": [{"id": "sdxl"}, {"id": "whisper-1"}]}),
            "/v1/images/generations": (
                200,
                {"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]},
            ),
            "/v1/audio/transcriptions": (200, VERBOSE),
            "/health": (200, {"status": "ok", "model": "Qwen/Qwen3-ASR-0.6B"}),
            "/transcribe": (202, {"job_id": "j_1", "status": "queued"}),
        }
        self.job_polls: list[dict[str, Any]] = [
            {"job_id": "j_1", "status": "processing"},
            {"job_id": "j_1", "status": "completed", "result": JOB_RESULT},
        ]
        self.app = Starlette(
            routes=[
                Route("/v1/models", self.serve, methods=["GET"]),
                Route("/v1/images/generations", self.serve, methods=["POST"]),
                Route("/v1/audio/transcriptions", self.serve, methods=["POST"]),
                Route("/health", self.serve, methods=["GET"]),
                Route("/transcribe", self.serve, methods=["POST"]),
                Route("/jobs/{job_id}", self.job, methods=["GET"]),
            ]
        )

    async def _record(self, request: Request) -> None:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "headers": dict(request.headers),
            "json": None,
            "form": {},
            "files": {},
        }
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            entry["json"] = await request.json()
        elif content_type.startswith("multipart/form-data"):
            form = await request.form()
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    entry["files"][key] = (value.filename, value.content_type, data)
                else:
                    entry["form"][key] = value
        self.requests.append(entry)

    async def serve(self, request: Request) -> Response:
        await self._record(request)
        status, body = self.replies[request.url.path]
        if isinstance(body, str):
            return Response(body, status_code=status, media_type="text/plain")
        return JSONResponse(body, status_code=status)

    async def job(self, request: Request) -> Response:
        await self._record(request)
        body = self.job_polls.pop(0) if len(self.job_polls) > 1 else self.job_polls[0]
        return JSONResponse(body)
