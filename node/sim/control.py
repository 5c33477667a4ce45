"""The simulator's ``/_sim`` control hooks for tests and benchmarks: ``/_sim/state``,
``/_sim/records``, ``/_sim/faults``, ``/_sim/reset`` and ``/_sim/config``.

Owns the state snapshot, the reset and the live reconfiguration, as the ``ControlHooks`` mixin that
``server.Simulator`` inherits, and the Starlette routes that expose them (``control_routes``). It
must never serve Ollama or OpenAI traffic, and is no part of the Ollama API users rely on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herd_contract.model_names import normalize

from .catalogue import CATALOGUE
from .engine import BadRequest, Engine, SimError, parse_keep_alive
from .faults import FaultBook
from .records import Recorder


def device_hardware(engine: Engine) -> dict[str, Any]:
    """The simulated device as its agent reports it: chip, cores and disk, not the host's."""
    profile = engine.profile
    total = int(profile.disk_gb * 1e9)
    used = sum(CATALOGUE[name].size for name in engine.disk if name in CATALOGUE)
    return {
        **profile.hardware,
        "cpu_cores": profile.cpu_cores,
        "disk_total_bytes": total,
        "disk_free_bytes": max(0, total - used),
    }


class ControlHooks:
    """``state()`` and ``reset()``; mixed into ``server.Simulator``, which provides the state."""

    engine: Engine
    faults: FaultBook
    recorder: Recorder

    def state(self) -> dict[str, Any]:
        engine = self.engine
        loaded = [
            {
                "name": m.spec.name,
                "size": m.size,
                "context_length": m.context_length,
                "in_flight": m.in_flight,
                "expires_at": m.expires_at,
                "last_used": m.last_used,
                "loaded_at": m.loaded_at,
                "state": m.state,
                "num_parallel": m.num_parallel,
            }
            for m in engine.loaded_models()
        ]
        counters = engine.counters
        return {
            "profile": engine.profile.name,
            "memory_total_bytes": engine.memory_total,
            "memory_used_bytes": engine.memory_used,
            "memory_bandwidth_gbps": engine.profile.bandwidth_gbps,
            "hardware": device_hardware(engine),
            "num_parallel": engine.num_parallel,
            "max_loaded_models": engine.max_loaded_models,
            "max_queue": engine.config.max_queue,
            "time_scale": engine.config.time_scale,
            "keep_alive": engine.config.keep_alive,
            "context_length": engine.config.context_length,
            "loaded": loaded,
            "available": sorted(engine.disk),
            "queued": engine.queued(),
            "max_concurrent_seen": dict(counters.max_concurrent_seen),
            "loads": dict(counters.loads),
            "reloads": dict(counters.reloads),
            "evictions": counters.evictions,
            "pulls": dict(counters.pulls),
            "recently_unloaded": list(counters.unloaded),
            "faults": self.faults.listing(),
        }

    def reset(self, unload: bool = False) -> None:
        self.recorder.clear()
        self.faults.clear()
        self.engine.reset_counters()
        if unload:
            self.engine.unload_idle()


def control_routes(sim: ControlHooks) -> list[Route]:
    """The ``/_sim/*`` routes over ``sim``."""

    async def state(request: Request) -> Response:
        return JSONResponse(sim.state())

    async def records(request: Request) -> Response:
        items = sim.recorder.snapshot()
        path = request.query_params.get("path")
        model = request.query_params.get("model")
        if path:
            items = [r for r in items if r["path"] == path]
        if model:
            items = [r for r in items if r["model"] and normalize(r["model"]) == normalize(model)]
        return JSONResponse({"requests": items})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"faults": sim.faults.listing()})
        if request.method == "DELETE":
            sim.faults.clear()
            return JSONResponse({"ok": True})
        try:
            fault = sim.faults.add(await _json_of(request))
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return JSONResponse({"fault_id": fault.fault_id})

    async def reset(request: Request) -> Response:
        try:
            body = await _json_of(request)
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        sim.reset(unload=bool(body.get("unload")))
        return JSONResponse({"ok": True})

    async def configure(request: Request) -> Response:
        allowed: dict[str, Callable[[Any], Any]] = {
            "time_scale": float,
            "num_parallel": int,
            "max_loaded_models": int,
            "max_queue": int,
            "keep_alive": lambda v: v,
            "memory_gb": float,
            "memory_wait": bool,
            "context_length": int,
            "version": str,
        }
        try:
            body = await _json_of(request)
            changes = {}
            for key, value in body.items():
                if key not in allowed:
                    raise BadRequest(f"unknown setting {key!r}; allowed: {sorted(allowed)}")
                changes[key] = None if value is None else allowed[key](value)
            if "keep_alive" in changes:
                parse_keep_alive(changes["keep_alive"], 300.0)
            sim.engine.reconfigure(**changes)
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": f"invalid setting: {exc}"}, status_code=400)
        return JSONResponse(sim.state())

    return [
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/records", records, methods=["GET"]),
        Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/config", configure, methods=["POST"]),
    ]


async def _json_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body
