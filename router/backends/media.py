"""Image and speech jobs on the wire to a node's job gateway (``node.gateway``), and back.

Owns the gateway's paths, the request bodies (image jobs as JSON; audio as a multipart upload with
``audio``, ``model`` and ``language``, encoded here without a library), the fleet token the gateway
asks for, and reading the answers: a PNG with its generation time, or the transcript JSON
``{text, language, model, duration, seconds, chunks[{text, start, end}]}``. Pure.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

IMAGE_PATH = "/herd/images"
TRANSCRIBE_PATH = "/herd/transcriptions"
IMAGE_FIELDS = ("model", "prompt", "width", "height", "steps", "seed", "negative_prompt")


def request_headers(content_type: str, token: str | None) -> bytes:
    lines = f"Content-Type: {content_type}\r\n"
    if token:
        lines += f"Authorization: Bearer {token}\r\n"
    return lines.encode("latin-1")


def image_request(body: dict[str, Any], token: str | None) -> tuple[str, bytes, bytes]:
    """Path, headers and payload of an image job."""
    job = {k: body[k] for k in IMAGE_FIELDS if body.get(k) is not None}
    payload = json.dumps(job, separators=(",", ":"), ensure_ascii=False).encode()
    return IMAGE_PATH, request_headers("application/json", token), payload


def _safe(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ").replace('"', "'")


def multipart(
    fields: dict[str, str], file_field: str, filename: str, kind: str, data: bytes
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type."""
    boundary = f"herd-{secrets.token_hex(12)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_safe(name)}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_safe(file_field)}"; '
        f'filename="{_safe(filename)}"\r\nContent-Type: {_safe(kind)}\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def transcribe_request(body: dict[str, Any], token: str | None) -> tuple[str, bytes, bytes]:
    """Path, headers and payload of a transcription job (``body["audio"]`` holds the bytes)."""
    fields = {"model": str(body["model"])}
    if body.get("language"):
        fields["language"] = str(body["language"])
    payload, content_type = multipart(
        fields,
        "audio",
        str(body.get("filename") or "audio"),
        str(body.get("content_type") or "application/octet-stream"),
        body["audio"],
    )
    return TRANSCRIBE_PATH, request_headers(content_type, token), payload


def transcript(raw: bytes) -> dict[str, Any] | None:
    """The gateway's transcript, or None when the answer is not one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return None
    return data
