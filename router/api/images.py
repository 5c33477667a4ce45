"""The image-generation front ends: herd's ``POST /api/generate-image`` (PNG), OpenAI's
``POST /v1/images/generations`` (``b64_json``) and ``GET /api/image-models``.

Owns parsing and validating an image request into the pipeline's ``InferenceRequest`` of kind
``image`` (``{model, prompt, width, height, steps, seed, negative_prompt}``; OpenAI's ``size``
``"WxH"``, ``n`` of 1 and ``response_format`` ``b64_json``), and rendering the answer: the PNG with
``X-Fleet-Node``, ``X-Fleet-Model`` and ``X-Generation-Time``, or OpenAI's ``{created, data}``.
Scoring, queueing, retries and traces are the pipeline's. The router never fetches or hosts image
URLs (``response_format: url`` is refused).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herd_contract.model_names import normalize
from router.api.access import route
from router.api.intake import intake, traced
from router.api.responses import json_response
from router.errors import BadRequest
from router.fleet_view import backend_models
from router.parts import AppParts
from router.pipeline.routed import Routed

MIN_SIDE, MAX_SIDE, MAX_STEPS = 64, 4096, 200
MAX_PROMPT_CHARS = 20_000


def _whole(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}")
    return value


def image_job(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The pipeline body of an image request; ``BadRequest`` naming the field that is wrong."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("prompt is required (a non-empty string)")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    negative = body.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise BadRequest("negative_prompt must be a string")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise BadRequest("seed must be a whole number from 0")
    return {
        "model": model,
        "prompt": prompt,
        "width": _whole(body, "width", MIN_SIDE, MAX_SIDE) or 1024,
        "height": _whole(body, "height", MIN_SIDE, MAX_SIDE) or 1024,
        "steps": _whole(body, "steps", 1, MAX_STEPS),
        "seed": seed,
        "negative_prompt": negative or None,
    }


def openai_size(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``size``, ``n`` and ``response_format`` as herd's width and height."""
    if body.get("n", 1) != 1:
        raise BadRequest("n must be 1: herd generates one image per request")
    if body.get("response_format", "b64_json") != "b64_json":
        raise BadRequest("response_format must be b64_json: herd does not host image URLs")
    size = body.get("size", "1024x1024")
    width, _, height = str(size).partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise BadRequest(f"size must be WIDTHxHEIGHT, such as 1024x1024, not {size!r}")
    return {**body, "width": int(width), "height": int(height)}


def served_model(routed: Routed, asked: str) -> str:
    """The model that made the answer, in the client's spelling when it is the one asked for."""
    return asked if normalize(asked) == routed.model else routed.model


def _generation_time(routed: Routed) -> float:
    reported = (routed.final or {}).get("generation_time_s")
    if isinstance(reported, int | float):
        return float(reported)
    return (routed.trace.latency_ms or 0.0) / 1000


def routes(ctx: AppParts) -> list[Route]:
    async def generate(request: Request, state: dict[str, Any]) -> Response:
        got = await intake(request, ctx, state)
        job = image_job(got.body, got.model)
        routed = await ctx.pipeline.open(got.inference("image", "ollama", job, False))
        headers = {
            **routed.headers(),
            "X-Fleet-Model": served_model(routed, got.model),
            "X-Generation-Time": f"{_generation_time(routed):.3f}",
        }
        return Response(routed.first, media_type="image/png", headers=headers)

    async def generations(request: Request, state: dict[str, Any]) -> Response:
        got = await intake(request, ctx, state)
        job = image_job(openai_size(got.body), got.model)
        routed = await ctx.pipeline.open(got.inference("image", "openai", job, False))
        data = [
            {"b64_json": base64.b64encode(routed.first).decode(), "revised_prompt": job["prompt"]}
        ]
        headers = {**routed.headers(), "X-Fleet-Model": served_model(routed, got.model)}
        headers["X-Generation-Time"] = f"{_generation_time(routed):.3f}"
        return json_response({"created": int(time.time()), "data": data}, headers=headers)

    async def image_models(request: Request) -> Response:
        records = [r for r, _ in ctx.registry.routable()]
        models = [m for m in backend_models(records) if m["kind"] == "image"]
        return json_response({"models": models})

    return [
        route(
            "/api/generate-image", traced(ctx, "image", "ollama", generate), methods=["POST"],
            access="use",
        ),
        route(
            "/v1/images/generations", traced(ctx, "image", "openai", generations),
            methods=["POST"], access="use",
        ),
        route("/api/image-models", image_models, methods=["GET"], access="use"),
    ]  # fmt: skip
