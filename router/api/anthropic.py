"""The Anthropic Messages API in front of the fleet: ``POST /v1/messages`` and
``POST /v1/messages/count_tokens``; what Claude Code and the Anthropic SDKs speak.

A message goes through the one pipeline as a chat request: translated to Ollama's ``/api/chat``
by ``router.translate.anthropic_request`` for nodes whose Ollama is older than 0.14, or forwarded
to the node's own ``/v1/messages`` when it speaks it (the pipeline decides per node, in
``router.native``). Answers come back as a ``message`` object or Anthropic's SSE events; errors as
Anthropic error objects. ``x-api-key`` and ``Authorization: Bearer`` both carry the API key;
``anthropic-version`` is accepted and not needed. ``count_tokens`` answers Ollama's estimate
(characters / 4), without asking a node: Ollama has no such endpoint.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.api.bodies import read_json_object
from router.api.intake import open_native_chat, traced
from router.api.responses import json_response
from router.api.streaming import RoutedStream, passed_through, translated
from router.native import MESSAGES
from router.parts import AppParts
from router.translate.anthropic_request import estimate_input_tokens, messages_request_to_ollama
from router.translate.anthropic_response import MessagesStreamTranslator, message_to_anthropic
from router.translate.errors import anthropic_error_event

SSE = "text/event-stream"


def _failure(message: str) -> bytes:
    return anthropic_error_event(message, 500)


def routes(ctx: AppParts) -> list[Route]:
    async def messages(request: Request, state: dict[str, Any]) -> Response:
        got, routed, model = await open_native_chat(
            request, ctx, state, "anthropic", messages_request_to_ollama, MESSAGES
        )
        if routed.native:
            body: Any = routed.first if routed.complete else passed_through(routed, _failure)
        elif routed.complete:
            reply = message_to_anthropic(routed.json(), id=f"msg_{got.request_id}", model=model)
            return json_response(reply, headers=routed.headers())
        else:
            translator = MessagesStreamTranslator(
                id=f"msg_{got.request_id}",
                model=model,
                input_tokens=estimate_input_tokens(got.body),
            )
            body = translated(routed, translator)
        if routed.complete:
            return Response(body, media_type="application/json", headers=routed.headers())
        return RoutedStream(body, routed.close, SSE, routed.headers())  # type: ignore[return-value]

    async def count_tokens(request: Request) -> Response:
        body = await read_json_object(request, ctx.settings.max_body_bytes)
        return json_response({"input_tokens": estimate_input_tokens(body)})

    return [
        route(
            "/v1/messages",
            traced(ctx, "chat", "anthropic", messages),
            methods=["POST"],
            access="use",
        ),
        route("/v1/messages/count_tokens", count_tokens, methods=["POST"], access="use"),
    ]
