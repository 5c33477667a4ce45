"""The OpenAI-compatible API in front of the fleet: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings``.

Translates each OpenAI body into Ollama's native request, hands it to the one pipeline, and
translates the answer back (JSON, or SSE ending with ``data: [DONE]``). Errors are OpenAI error
objects. ``/v1/models`` lives with the other merged lists in ``router.api.fleet``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.api.intake import intake, require_bool, traced
from router.api.responses import json_response
from router.api.streaming import RoutedStream, translated
from router.parts import AppParts
from router.pipeline.request import RequestKind
from router.translate import (
    ChatStreamTranslator,
    CompletionStreamTranslator,
    chat_request_to_ollama,
    chat_response_to_openai,
    completion_request_to_ollama,
    completion_response_to_openai,
    embeddings_request_to_ollama,
    embeddings_response_to_openai,
    encoding_format,
    include_usage,
)

SSE = "text/event-stream"


def routes(ctx: AppParts) -> list[Route]:
    def completions(
        kind: RequestKind,
        to_ollama: Callable[[dict[str, Any]], dict[str, Any]],
        to_openai: Callable[..., dict[str, Any]],
        translator_class: type,
        prefix: str,
    ) -> Any:
        async def handle(request: Request, state: dict[str, Any]) -> Response:
            got = await intake(request, ctx, state)
            native = to_ollama(got.body)
            stream = require_bool(got.body, "stream", False)
            native["stream"] = stream
            routed = await ctx.pipeline.open(got.inference(kind, "openai", native, stream))
            response_id = f"{prefix}-{got.request_id}"
            created = int(time.time())
            model = routed.model if routed.trace.fallback_used else got.model
            if routed.complete:
                body = to_openai(routed.json(), id=response_id, created=created, model=model)
                return json_response(body, headers=routed.headers())
            translator = translator_class(
                id=response_id, created=created, model=model, include_usage=include_usage(got.body)
            )
            return RoutedStream(translated(routed, translator), routed.close, SSE, routed.headers())  # type: ignore[return-value]

        return traced(ctx, kind, "openai", handle)

    async def embeddings(request: Request, state: dict[str, Any]) -> Response:
        got = await intake(request, ctx, state)
        native = embeddings_request_to_ollama(got.body)
        encoding = encoding_format(got.body)
        routed = await ctx.pipeline.open(got.inference("embed", "openai", native, False))
        model = routed.model if routed.trace.fallback_used else got.model
        body = embeddings_response_to_openai(routed.json(), model=model, encoding=encoding)
        return json_response(body, headers=routed.headers())

    return [
        route(
            "/v1/chat/completions",
            completions(
                "chat",
                chat_request_to_ollama,
                chat_response_to_openai,
                ChatStreamTranslator,
                "chatcmpl",
            ),
            methods=["POST"],
            access="use",
        ),
        route(
            "/v1/completions",
            completions(
                "generate",
                completion_request_to_ollama,
                completion_response_to_openai,
                CompletionStreamTranslator,
                "cmpl",
            ),
            methods=["POST"],
            access="use",
        ),
        route(
            "/v1/embeddings",
            traced(ctx, "embed", "openai", embeddings),
            methods=["POST"],
            access="use",
        ),
    ]
