"""Image jobs on a node's own Ollama (its image-generation models), on the wire and back.

An ``image`` backend with the adapter ``ollama`` is an Ollama that runs image models through its
``/api/generate`` (0.14.3 to 0.32.5). Owns the request, ``{model, prompt, width, height, steps,
options: {seed}, stream: false}`` (Ollama has no negative prompt: it is left out), and reading the
answer: Ollama 0.14.x streams NDJSON whatever ``stream`` says (progress lines ``{completed,
total, done: false}``, then ``{image, done: true, total_duration, load_duration}``) and later ones
send that last object alone, so both are read the same way, a line with ``error`` failing the job.
The image is the base64 PNG in ``image``; its generation time is ``total_duration``. Pure.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from router.backends.media import request_headers

GENERATE_PATH = "/api/generate"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class NoImage(ValueError):
    """The Ollama's answer holds no usable image; the message says why."""


def image_request(body: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """Path, headers and payload of an image job for an Ollama."""
    request: dict[str, Any] = {"model": body["model"], "prompt": body["prompt"], "stream": False}
    for key in ("width", "height", "steps"):
        if body.get(key) is not None:
            request[key] = body[key]
    if body.get("seed") is not None:
        request["options"] = {"seed": body["seed"]}
    payload = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
    return GENERATE_PATH, request_headers("application/json", None), payload


def _objects(raw: bytes) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for text in raw.splitlines():
        if not text.strip():
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            raise NoImage("the node's Ollama sent an answer that is not JSON") from None
        if isinstance(parsed, dict):
            found.append(parsed)
    return found


def image_answer(raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """The PNG and the final fields (``generation_time_s``, ``load_duration``,
    ``total_duration``) of an Ollama's image answer; ``NoImage`` saying what is wrong."""
    objects = _objects(raw)
    for obj in objects:
        if obj.get("error"):
            raise NoImage(f"the node's Ollama failed: {obj['error']}")
    final = next((obj for obj in reversed(objects) if obj.get("done") is True), None)
    if final is None:
        raise NoImage("the node's Ollama ended the image stream before the image")
    encoded = final.get("image")
    if not isinstance(encoded, str) or not encoded:
        raise NoImage("the node's Ollama answered without an image (is it an image model?)")
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise NoImage("the node's Ollama sent an image that is not base64") from None
    if not png.startswith(PNG_SIGNATURE):
        raise NoImage("the node's Ollama sent an image that is not a PNG")
    fields: dict[str, Any] = {}
    for key in ("total_duration", "load_duration"):
        value = final.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            fields[key] = value
    if "total_duration" in fields:
        fields["generation_time_s"] = round(fields["total_duration"] / 1e9, 3)
    return png, fields
