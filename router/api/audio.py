"""The speech-to-text front ends: herd's ``POST /api/transcribe`` and OpenAI's
``POST /v1/audio/transcriptions``.

Owns reading the multipart upload (``audio`` for herd, ``file`` for OpenAI; ``model``,
``language``, ``response_format``), its limits (``MAX_AUDIO_BYTES``: 413 above it; an empty file or
one that is not WAV, MP3, FLAC, OGG/Opus, M4A/MP4 or WebM is refused with 400, by its first
bytes), and rendering the pipeline's transcript: herd's ``{text, language, chunks[{text, start,
end}], model, duration}`` or OpenAI's ``json`` (``{text}``), ``text`` or ``verbose_json``
(``{task, language, duration, text, segments[{id, start, end, text}]}``). The model defaults to the
fleet's only speech model when the client names none.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from router.api.access import route
from router.api.images import served_model
from router.api.intake import traced
from router.api.responses import json_response
from router.errors import BadRequest, PayloadTooLarge
from router.fleet_view import backend_models
from router.parts import AppParts
from router.pipeline.request import InferenceRequest
from router.translate import TAGS_HEADER

MAX_AUDIO_BYTES = 100 * 1024 * 1024
FORMATS = ("json", "text", "verbose_json")
_FORMAT_NAMES = "WAV, MP3, FLAC, OGG/Opus, M4A/MP4 or WebM"


def audio_format(data: bytes) -> str | None:
    """The container of ``data`` from its first bytes, or None when it is not a known one."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[4:8] == b"ftyp":
        return "m4a"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


async def read_upload(
    request: Request, file_field: str
) -> tuple[dict[str, str], UploadFile, bytes]:
    """The form's text fields, the upload and its bytes, within the limits."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_AUDIO_BYTES + 65_536:
        raise PayloadTooLarge(f"audio uploads are limited to {MAX_AUDIO_BYTES} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest(f"send the audio as multipart/form-data with a '{file_field}' file field")
    try:
        form = await request.form(max_files=1, max_fields=16, max_part_size=MAX_AUDIO_BYTES)
    except (HTTPException, MultiPartException) as exc:
        detail = str(getattr(exc, "detail", exc))
        if "size" in detail.lower():
            raise PayloadTooLarge(f"audio uploads are limited to {MAX_AUDIO_BYTES} bytes") from None
        raise BadRequest(f"malformed multipart upload: {detail}") from None
    upload = form.get(file_field)
    if not isinstance(upload, UploadFile):
        raise BadRequest(f"{file_field} is required (a multipart file field)")
    data = await upload.read()
    if len(data) > MAX_AUDIO_BYTES:
        raise PayloadTooLarge(f"audio uploads are limited to {MAX_AUDIO_BYTES} bytes")
    if not data:
        raise BadRequest(f"{file_field} is empty")
    if audio_format(data) is None:
        raise BadRequest(f"{file_field} is not audio herd can transcribe: send {_FORMAT_NAMES}")
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return fields, upload, data


def _model(ctx: AppParts, fields: dict[str, str]) -> str:
    model = fields.get("model", "").strip()
    if model:
        return model
    records = [r for r, _ in ctx.registry.routable()]
    speech = [m["name"] for m in backend_models(records) if m["kind"] == "stt"]
    if len(speech) == 1:
        return str(speech[0])
    raise BadRequest("model is required" + (f": one of {', '.join(speech)}" if speech else ""))


def _request(
    request: Request, state: dict[str, Any], model: str, fields: dict[str, str], upload: UploadFile,
    data: bytes, api: str,
) -> InferenceRequest:  # fmt: skip
    raw_tags = request.headers.get(TAGS_HEADER, "")
    tags = [t.strip() for t in raw_tags.split(",") if t.strip()][:16]
    state["model"], state["tags"] = model, tags
    body = {
        "model": model,
        "audio": data,
        "filename": upload.filename or "audio",
        "content_type": upload.content_type or "application/octet-stream",
        "language": fields.get("language") or None,
    }
    return InferenceRequest(
        kind="transcribe", model=model, body=body, stream=False, api="openai" if api == "openai"
        else "ollama", tags=tags, client_ip=state["client_ip"], request_id=state["request_id"],
    )  # fmt: skip


def routes(ctx: AppParts) -> list[Route]:
    async def transcribe(request: Request, state: dict[str, Any]) -> Response:
        fields, upload, data = await read_upload(request, "audio")
        job = _request(request, state, _model(ctx, fields), fields, upload, data, "ollama")
        routed = await ctx.pipeline.open(job)
        result = routed.final or {}
        chunks = [
            {"text": c.get("text", ""), "start": c.get("start"), "end": c.get("end")}
            for c in result.get("chunks", [])
        ]
        answer = {
            "text": result.get("text", ""),
            "language": result.get("language", ""),
            "chunks": chunks,
            "model": served_model(routed, job.model),
            "duration": result.get("duration"),
        }
        headers = {**routed.headers(), "X-Fleet-Model": served_model(routed, job.model)}
        return json_response(answer, headers=headers)

    async def transcriptions(request: Request, state: dict[str, Any]) -> Response:
        fields, upload, data = await read_upload(request, "file")
        response_format = fields.get("response_format", "json")
        if response_format not in FORMATS:
            raise BadRequest(f"response_format must be one of {', '.join(FORMATS)}")
        job = _request(request, state, _model(ctx, fields), fields, upload, data, "openai")
        routed = await ctx.pipeline.open(job)
        result = routed.final or {}
        headers = {**routed.headers(), "X-Fleet-Model": served_model(routed, job.model)}
        text = str(result.get("text", ""))
        if response_format == "text":
            return PlainTextResponse(text, headers=headers)
        if response_format == "json":
            return json_response({"text": text}, headers=headers)
        segments = [
            {"id": i, "start": c.get("start"), "end": c.get("end"), "text": c.get("text", "")}
            for i, c in enumerate(result.get("chunks", []))
        ]
        verbose = {
            "task": "transcribe",
            "language": result.get("language", ""),
            "duration": result.get("duration"),
            "text": text,
            "segments": segments,
        }
        return json_response(verbose, headers=headers)

    return [
        route(
            "/api/transcribe", traced(ctx, "transcribe", "ollama", transcribe), methods=["POST"],
            access="use",
        ),
        route(
            "/v1/audio/transcriptions", traced(ctx, "transcribe", "openai", transcriptions),
            methods=["POST"], access="use",
        ),
    ]  # fmt: skip
