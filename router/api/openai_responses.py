"""OpenAI's Responses API in front of the fleet: ``POST /v1/responses``.

A response goes through the one pipeline as a chat request: translated to Ollama's ``/api/chat``
by ``router.translate.responses_request`` for nodes whose Ollama is older than 0.13.3, or forwarded
to the node's own ``/v1/responses`` when it speaks it (the pipeline decides per node, in
``router.native``). Answers come back as a ``response`` object or the Responses SSE events;
errors as OpenAI error objects. Stateless, as in Ollama: ``previous_response_id`` and
``conversation`` are ignored and nothing is stored; clients send the whole conversation as
``input`` items.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.api.intake import open_native_chat, traced
from router.api.responses import json_response
from router.api.streaming import RoutedStream, passed_through, translated
from router.native import RESPONSES
from router.parts import AppParts
from router.translate.responses_request import responses_request_to_ollama
from router.translate.responses_response import ResponsesStreamTranslator, reply_to_response

SSE = "text/event-stream"


def routes(ctx: AppParts) -> list[Route]:
    async def create(request: Request, state: dict[str, Any]) -> Response:
        got, routed, model = await open_native_chat(
            request, ctx, state, "responses", responses_request_to_ollama, RESPONSES
        )
        if routed.native and routed.complete:
            return Response(routed.first, media_type="application/json", headers=routed.headers())
        ident = f"resp_{got.request_id}"
        created = int(time.time())
        if routed.complete:
            reply = reply_to_response(
                routed.json(),
                got.body,
                id=ident,
                model=model,
                created_at=created,
                completed_at=int(time.time()),
            )
            return json_response(reply, headers=routed.headers())
        translator = ResponsesStreamTranslator(
            got.body, id=ident, model=model, created_at=created, clock=time.time
        )
        if routed.native:
            body = passed_through(routed, translator.fail)
        else:
            body = translated(routed, translator)
        return RoutedStream(body, routed.close, SSE, routed.headers())  # type: ignore[return-value]

    return [
        route(
            "/v1/responses",
            traced(ctx, "chat", "responses", create),
            methods=["POST"],
            access="use",
        )
    ]
