"""``GET /metrics``: the router's Prometheus exposition, guarded like the read API."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.parts import AppParts


def routes(parts: AppParts) -> list[Route]:
    async def metrics(request: Request) -> Response:
        return Response(parts.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return [route("/metrics", metrics, methods=["GET"], access="use")]
