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

import httpx

from .http import ServerClient
from .jobs import PNG_SIGNATURE, BackendError, BackendReport, ImageJob, ImageResult
from .occupancy import Occupancy


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


class OpenAIImages:
    adapter = "openai"

    def __init__(
        self,
        url: str,
        *,
        models: list[str] | None = None,
        api_key: str | None = None,
        capacity: int = 1,
        timeout_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = ServerClient(url, api_key=api_key, timeout_s=timeout_s, transport=transport)
        self.fixed_models = models
        self.models: list[str] = list(models or [])
        self.occupancy = Occupancy(capacity)

    def serves(self, model: str) -> bool:
        return model in self.models

    async def report(self) -> BackendReport:
        detail, reachable = "", True
        if self.fixed_models is None:
            try:
                self.models = await self.server.model_ids()
            except BackendError as exc:
                detail, reachable = exc.message, False
        return BackendReport(
            "image", self.adapter, self.server.url, self.models, reachable=reachable,
            capacity=self.occupancy.capacity, busy=self.occupancy.busy, detail=detail,
        )  # fmt: skip

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

    async def aclose(self) -> None:
        await self.server.aclose()
