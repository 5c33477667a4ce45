"""What every inference front end does first: read the body, split off router-only fields, and
make sure a refused request still leaves a trace.

Shared by every front end so that none repeats another; ``open_native_chat`` is the common start
of the front ends for APIs Ollama also speaks itself (Anthropic's Messages, OpenAI's Responses).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from router.api.bodies import read_json_object
from router.api.request_ids import request_id_of
from router.api.responses import error_response
from router.errors import BadRequest, ClientGone, HerdError
from router.native import NativeApi
from router.parts import AppParts
from router.pipeline.request import Api, InferenceRequest, RequestKind
from router.pipeline.routed import Routed
from router.translate import TAGS_HEADER, extract_router_fields


@dataclass(slots=True)
class Intake:
    body: dict[str, Any]
    """The client's body without router-only fields, still in the client's format."""
    model: str
    tags: list[str]
    fallback_models: list[str]
    client_ip: str | None
    request_id: str
    client_gone: asyncio.Future[None] | None = None
    """Done when the client disconnects while its answer has not begun."""

    def inference(
        self,
        kind: RequestKind,
        api: Api,
        body: dict[str, Any],
        stream: bool,
    ) -> InferenceRequest:
        """The pipeline's request for this intake, with ``body`` in Ollama's native shape."""
        return InferenceRequest(
            kind=kind,
            model=self.model,
            body=body,
            stream=stream,
            api=api,
            tags=self.tags,
            fallback_models=self.fallback_models,
            client_ip=self.client_ip,
            request_id=self.request_id,
            client_gone=self.client_gone,
        )


async def intake(request: Request, ctx: AppParts, state: dict[str, Any]) -> Intake:
    """Parse and split the body; ``state`` receives what is known so far for a rejection trace."""
    raw = await read_json_object(request, ctx.settings.max_body_bytes)
    model = raw.get("model")
    if isinstance(model, str):
        state["model"] = model
    body, tags, fallbacks = extract_router_fields(raw, request.headers.get(TAGS_HEADER))
    state["tags"] = tags
    if model is None or model == "":
        raise BadRequest("model is required")
    if not isinstance(model, str):
        raise BadRequest("model must be a string")
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state["watcher"] = asyncio.create_task(_watch_disconnect(request, gone))
    return Intake(
        body=body,
        model=model,
        tags=tags,
        fallback_models=fallbacks,
        client_ip=state["client_ip"],
        request_id=state["request_id"],
        client_gone=gone,
    )


async def open_native_chat(
    request: Request,
    ctx: AppParts,
    state: dict[str, Any],
    api: Api,
    to_ollama: Callable[[dict[str, Any]], dict[str, Any]],
    native: NativeApi,
) -> tuple[Intake, Routed, str]:
    """Route a chat in a client API that Ollama also speaks itself (``router.native``): the
    translated ``/api/chat`` body for any node, the client's own body for a node whose Ollama has
    the endpoint. The intake, the answer begun, and the model name to show the client."""
    got = await intake(request, ctx, state)
    chat = to_ollama(got.body)
    inference = got.inference("chat", api, chat, bool(chat["stream"]))
    inference.native = native.call(got.body)
    routed = await ctx.pipeline.open(inference)
    return got, routed, routed.model if routed.trace.fallback_used else got.model


async def _watch_disconnect(request: Request, gone: asyncio.Future[None]) -> None:
    """Complete ``gone`` when the client disconnects. Runs only once the body has been read and
    until the response starts (the streaming response then watches by itself), so no body message
    is ever taken from the handler."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            if not gone.done():
                gone.set_result(None)
            return


def traced(
    ctx: AppParts,
    kind: RequestKind,
    api: Api,
    handler: Callable[[Request, dict[str, Any]], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an inference handler: a ``HerdError`` raised before routing is traced and rendered.

    Errors raised by the pipeline itself are already traced there (``traced`` is set).
    """

    async def endpoint(request: Request) -> Response:
        state: dict[str, Any] = {
            "request_id": request_id_of(request.scope),
            "client_ip": request.client.host if request.client else None,
            "model": "",
            "tags": [],
        }
        try:
            return await handler(request, state)
        except ClientGone:
            return Response(status_code=499)  # nobody is listening; the trace says it all
        except HerdError as exc:
            if not exc.traced:
                ctx.pipeline.traces.rejected(
                    state["request_id"],
                    state["model"],
                    kind,
                    api,
                    exc,
                    state["client_ip"],
                    state["tags"],
                )
            return error_response(request.url.path, exc)
        finally:
            watcher = state.get("watcher")
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    return endpoint


def require_bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def model_and_node(body: dict[str, Any], node_required: bool = False) -> tuple[str, str | None]:
    """``model`` (or Ollama's older ``name``) and an optional ``node_id`` from a pull or delete."""
    model = body.get("model") or body.get("name")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("model is required (a string)")
    node_id = body.get("node_id")
    if node_id is None and node_required:
        raise BadRequest("node_id is required")
    if node_id is not None and (not isinstance(node_id, str) or not node_id):
        raise BadRequest("node_id must be a non-empty string")
    return model.strip(), node_id
