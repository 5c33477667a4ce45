"""The simulator's HTTP edge: wires Ollama's API, its OpenAI-compatible API (with Responses), its
Anthropic Messages API and the ``/_sim`` test hooks into one ASGI app.

Owns ``Simulator`` (engine + faults + records, and the request plumbing that hands each request to
its handler through an ``Exchange``), ``SimApp`` and ``create_app``. The handlers live in
``ollama_api``, ``openai_api``, ``compat_api`` and ``control``; the disconnect watch and fault
execution in ``exchange``; the shared generation machinery in ``generation``; physics in ``engine``
and reply content in ``replies``. This module only wires them to HTTP and never logs per request.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .compat_api import CompatEndpoints
from .control import ControlHooks, control_routes
from .engine import BadRequest, Engine, SimConfig, SimError
from .exchange import Call, Dialect, Exchange, Handler, refuse
from .faults import FaultBook
from .media import ImageEngine, SpeechEngine
from .media_api import MediaEndpoints
from .ollama_api import OllamaEndpoints
from .ollama_images import OllamaImages
from .openai_api import OpenAIEndpoints
from .records import Recorder


class Simulator(OllamaEndpoints, OpenAIEndpoints, CompatEndpoints, ControlHooks):
    """One simulated Ollama server: engine + faults + records, and the handlers over them."""

    def __init__(self, config: SimConfig | None = None, engine: Engine | None = None) -> None:
        self.config = config or SimConfig()
        self.engine = engine or Engine(self.config)
        self.faults = FaultBook()
        self.recorder = Recorder(self.engine.clock)
        self.created = int(time.time())
        self.images = OllamaImages(self.engine)
        profile = self.engine.profile.name
        self.media = MediaEndpoints(
            self,
            ImageEngine(profile, self.engine.sleep, self.config.image_models),
            SpeechEngine(profile, self.engine.sleep, self.config.stt_models),
        )

    # --- plumbing -----------------------------------------------------------------------------

    def endpoint(
        self, handler: Handler, *, dialect: Dialect = "ollama"
    ) -> Callable[[Request], Any]:
        async def serve(request: Request) -> Any:
            record = self.recorder.open(
                request.method, request.url.path, request.headers.get("user-agent")
            )
            body: dict[str, Any] = {}
            problem: SimError | None = None
            if request.method in ("POST", "DELETE"):
                raw = await request.body()
                try:
                    parsed = json.loads(raw) if raw.strip() else {}
                except ValueError as exc:
                    problem = BadRequest(f"invalid JSON body: {exc}")
                    parsed = None
                if problem is None and not isinstance(parsed, dict):
                    problem = BadRequest("request body must be a JSON object")
                if isinstance(parsed, dict):
                    body = parsed
                    record["body"] = parsed
                    model = parsed.get("model") or parsed.get("name")
                    record["model"] = model if isinstance(model, str) else None
            path = request.url.path
            fault = self.faults.take(path, record["model"])
            if fault is not None:
                record["fault"] = fault.kind
            call = Call(self, request, body, record, dialect)
            producer = refuse(problem) if problem is not None else handler(call)
            return Exchange(call, producer, fault)

        return serve


class SimApp:
    """The ASGI app: Starlette routes behind a thin layer that keeps the server's raw ``send``
    (so a fault can abort the TCP connection). ``.sim`` is the live ``Simulator``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.starlette = _build_routes(sim)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["sim.raw_send"] = send
        await self.starlette(scope, receive, send)


def create_app(config: SimConfig | None = None, *, engine: Engine | None = None) -> SimApp:
    """Build the simulator's ASGI app (serve it with uvicorn)."""
    return SimApp(Simulator(config, engine))


def _build_routes(sim: Simulator) -> Starlette:
    ep = sim.endpoint

    async def root(request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sim.engine.aclose()

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", ep(sim.version), methods=["GET"]),
        Route("/api/tags", ep(sim.tags), methods=["GET"]),
        Route("/api/ps", ep(sim.ps), methods=["GET"]),
        Route("/api/show", ep(sim.show), methods=["POST"]),
        Route("/api/pull", ep(sim.pull), methods=["POST"]),
        Route("/api/delete", ep(sim.delete), methods=["DELETE"]),
        Route("/api/chat", ep(sim.chat), methods=["POST"]),
        Route("/api/generate", ep(sim.generate), methods=["POST"]),
        Route("/api/embed", ep(sim.embed), methods=["POST"]),
        Route("/api/embeddings", ep(sim.embeddings), methods=["POST"]),
        Route("/v1/models", ep(sim.openai_models, dialect="openai"), methods=["GET"]),
        Route("/v1/models/{model:path}", ep(sim.openai_model, dialect="openai"), methods=["GET"]),
        Route("/v1/chat/completions", ep(sim.openai_chat, dialect="openai"), methods=["POST"]),
        Route("/v1/completions", ep(sim.openai_completions, dialect="openai"), methods=["POST"]),
        Route("/v1/embeddings", ep(sim.openai_embeddings, dialect="openai"), methods=["POST"]),
        Route("/v1/responses", ep(sim.openai_responses, dialect="openai"), methods=["POST"]),
        Route("/v1/messages", ep(sim.anthropic_messages, dialect="anthropic"), methods=["POST"]),
        *sim.media.routes(),
        *control_routes(sim),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


__all__ = ["SimApp", "Simulator", "create_app"]
