"""The simulator's Ollama image generation: ``/api/generate`` for a model with the ``image``
capability, as Ollama answered it from 0.14.3 until 0.32.6 removed it.

Owns ``OllamaImages``: the request's ``width``, ``height`` (default 1024, at most 4096), ``steps``
(the model's default when absent) and ``options.seed``; the model loaded through the engine like
any other (cold load, memory, keep-alive, ``/api/ps``), then one image at a time for the whole
server, taking ``media.image_seconds`` for the profile (the modelled seconds are the reply's
``total_duration``, the cold load its ``load_duration``); the reply as Ollama's NDJSON progress
lines ``{model, created_at, completed, total, done: false}`` and a last line ``{model,
created_at, image: <base64 PNG>, done: true, done_reason: "stop", total_duration,
load_duration}``, or one JSON object of that last shape when ``stream`` is false (from 0.15.0:
0.14.x always streamed). An empty prompt only loads the model (``done_reason: "load"``). Version
0.32.6 and later answer 400 ``image generation models are not currently supported``, as that
Ollama does.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

from herd_contract.versions import parse_version
from node.backends.occupancy import Occupancy

from .catalogue import ModelSpec
from .engine import BadRequest, Engine
from .exchange import Call
from .framing import JSON, NDJSON, Head, Item, dumps, iso, line, ns
from .generation import started
from .media import IMAGE_SETUP_S, image_seconds
from .png import render_png

SINCE = (0, 14, 3)
STREAM_FLAG_SINCE = (0, 15, 0)
"""Before this, Ollama streamed image progress whatever ``stream`` said."""
REMOVED_IN = (0, 32, 6)
MAX_DIMENSION = 4096
DEFAULT_SIDE = 1024
DEFAULT_STEPS = {"x/z-image-turbo:latest": 9, "x/flux2-klein:latest": 4}
"""Steps when the request sets none (Z-Image Turbo 9, FLUX.2 klein 4, as Ollama's engines)."""


def _dimension(body: dict[str, Any], key: str) -> int:
    value = body.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"json: cannot unmarshal {type(value).__name__} into field {key} of int32")
    return value


class OllamaImages:
    """Image generation on the simulated Ollama: one image at a time on its one GPU."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lane = Occupancy(1)

    @property
    def version(self) -> tuple[int, int, int]:
        """The version the server reports now (``/_sim/config`` may change it)."""
        return parse_version(self.engine.config.version) or SINCE

    async def generate(
        self, call: Call, name: str, spec: ModelSpec, keep_alive: Any
    ) -> AsyncIterator[Item]:
        """``/api/generate`` for the image model ``spec``."""
        if not SINCE <= self.version < REMOVED_IN:
            raise BadRequest("image generation models are not currently supported")
        body = call.body
        width, height = _dimension(body, "width"), _dimension(body, "height")
        if width > MAX_DIMENSION or height > MAX_DIMENSION:
            raise BadRequest(f"width and height must be <= {MAX_DIMENSION}")
        steps = _dimension(body, "steps") or DEFAULT_STEPS.get(spec.name, 4)
        options = body.get("options") or {}
        seed = options.get("seed") if isinstance(options, dict) else None
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string")
        if not prompt:
            await self.engine.load(name, keep_alive=keep_alive)
            yield Head(200, JSON, False)
            yield dumps(self._reply(name, done=True, done_reason="load"))
            return
        stream = self.version < STREAM_FLAG_SINCE or body.get("stream") is not False
        picture = (width or DEFAULT_SIDE, height or DEFAULT_SIDE, steps)
        events = await started(self._run(call, name, keep_alive, picture, seed, prompt))
        yield Head(200, NDJSON if stream else JSON, stream)
        async for event in events:
            if stream:
                yield line(event)
            elif event["done"]:
                yield dumps(event)

    async def _run(
        self,
        call: Call,
        name: str,
        keep_alive: Any,
        picture: tuple[int, int, int],
        seed: Any,
        prompt: str,
    ) -> AsyncIterator[dict[str, Any]]:
        """Progress objects, then the final one; the slot is held for the whole image."""
        width, height, steps = picture
        async with self.lane.slot(), self.engine.slot(name, keep_alive=keep_alive) as slot:
            call.record["cold_load"] = slot.cold_load
            work = image_seconds(self.engine.profile.name, width, height, steps)
            await self.engine.sleep(IMAGE_SETUP_S)
            per_step = (work - IMAGE_SETUP_S) / steps
            for step in range(1, steps + 1):
                await self.engine.sleep(per_step)
                yield self._reply(name, completed=step, total=steps, done=False)
        png = render_png(width, height, seed if isinstance(seed, int) else 0, prompt)
        yield self._reply(
            name,
            image=base64.b64encode(png).decode("ascii"),
            done=True,
            done_reason="stop",
            total_duration=ns(slot.load_seconds + work),
            load_duration=ns(slot.load_seconds),
        )

    def _reply(self, name: str, **fields: Any) -> dict[str, Any]:
        return {"model": name, "created_at": iso(self.engine.clock()), **fields}
