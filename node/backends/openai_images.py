"""A server speaking OpenAI's ``POST /v1/images/generations`` as an image backend.

Owns ``OpenAIImages``: sends ``{model, prompt, n: 1, size: "WxH", response_format: "b64_json"}``
plus ``steps``, ``seed`` and ``negative_prompt`` when the job sets them (local image servers take
them as extra fields), and maps ``data[0].b64_json`` back to PNG bytes. Its models are the ones
configured, else the server's ``/v1/models``.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from .http import ServedModels
from .jobs import PNG_SIGNATURE, BackendError, ImageJob, ImageResult


def request_body(job: ImageJob) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": job.model,
        "prompt": job.prompt,
        "n": 1,
        "size": f"{job.width}x{job.height}",
        "response_format": "b64_json",
    }
    if job.steps is not None:
        body["steps"] = job.steps
    if job.seed is not None:
        body["seed"] = job.seed
    if job.negative_prompt:
        body["negative_prompt"] = job.negative_prompt
    return body


def decode_image(payload: Any) -> bytes:
    """The PNG in an images response, or ``BackendError`` saying what is wrong with it."""
    try:
        encoded = payload["data"][0]["b64_json"]
        png = base64.b64decode(encoded, validate=True)
    except (KeyError, IndexError, TypeError, binascii.Error):
        raise BackendError("the image server's answer has no data[0].b64_json image") from None
    if not png.startswith(PNG_SIGNATURE):
        raise BackendError("the image server returned an image that is not a PNG")
    return png


class OpenAIImages(ServedModels):
    kind = "image"
    adapter = "openai"

    async def generate(self, job: ImageJob) -> ImageResult:
        body = request_body(job)
        async with self.occupancy.slot():
            started = time.perf_counter()
            response = await self.server.call(
                lambda: self.server.client.post("/v1/images/generations", json=body)
            )
            seconds = time.perf_counter() - started
        return ImageResult(
            png=decode_image(response.json()), model=job.model, seconds=seconds, seed=job.seed
        )
