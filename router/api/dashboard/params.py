"""Query parameters of the dashboard API, checked: a bad one is a 400 that names it; and the
node views every dashboard read starts from."""

from __future__ import annotations

import math

from starlette.requests import Request

from router.errors import BadRequest
from router.fleet_status import NodeView
from router.fleet_view import fleet_status
from router.parts import AppParts

DAY = 86_400.0


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number (epoch seconds), got {raw!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number, got {raw!r}")
    if value < 0:
        raise BadRequest(f"{name} must not be negative")
    return value


def node_views(ctx: AppParts) -> list[NodeView]:
    """Every node as ``/fleet/status`` shows it, now."""
    now = ctx.clock()
    return fleet_status(ctx.registry.with_status(now), ctx.queues.stats(), now).nodes
