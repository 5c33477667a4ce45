"""Heartbeats in: the agents' ``POST /fleet/heartbeat``, validated, admitted by node identity,
applied to the registry and acknowledged with the router's expectations.

Owns the router's side of the heartbeat exchange; the contract itself is
``herd_contract.heartbeat``.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herd_contract.heartbeat import MAX_HEARTBEAT_BYTES, Heartbeat, HeartbeatAck
from router import __version__
from router.api.access import route
from router.api.bodies import read_body
from router.api.responses import json_response
from router.node_identity import KEY_HEADER, AddressError, checked_backend_url
from router.parts import AppParts
from router.registry import reachable_ollama_url

log = logging.getLogger("herd.fleet")


def routes(ctx: AppParts) -> list[Route]:
    async def heartbeat(request: Request) -> Response:
        raw = await read_body(request, MAX_HEARTBEAT_BYTES)
        try:
            beat = Heartbeat.model_validate_json(raw)
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            first = errors[0] if errors else {"loc": "", "msg": "invalid"}
            return json_response(
                {"error": f"invalid heartbeat: {first['loc']}: {first['msg']}", "detail": errors},
                status=422,
            )
        client = request.client.host if request.client else None
        try:
            url = reachable_ollama_url(checked_backend_url(beat.ollama.url), client)
        except AddressError as exc:
            return json_response({"error": f"invalid heartbeat: ollama.url: {exc}"}, status=422)
        admission = ctx.identities.admit(
            beat.node_id, request.headers.get(KEY_HEADER), client, url, ctx.clock()
        )
        if admission.verdict == "refused":
            log.warning(
                "refused a heartbeat for %s from %s: %s",
                beat.node_id,
                client,
                admission.reason,
                extra={"node_id": beat.node_id},
            )
            return json_response({"error": admission.reason}, status=403)
        identity = ctx.identities.get(beat.node_id)
        known = ctx.registry.get(beat.node_id) is not None
        status = ctx.registry.apply(
            beat, client, url=admission.url, identity=identity.view() if identity else None
        )
        if not known:
            log.info(
                "node %s joined (%s)",
                beat.node_id,
                ctx.registry.get(beat.node_id).ollama_url,  # type: ignore[union-attr]
                extra={"console": True, "node_id": beat.node_id},
            )
        elif beat.status == "draining":
            log.info("node %s is draining", beat.node_id, extra={"console": True})
        ack = HeartbeatAck(
            node_id=beat.node_id,
            status=status,
            router_version=__version__,
            heartbeat_interval_s=ctx.settings.heartbeat_interval_s,
            node_key=admission.key,
        )
        return json_response(ack.model_dump(exclude_none=True))

    return [route("/fleet/heartbeat", heartbeat, methods=["POST"], access="heartbeat")]
