"""The fleet benchmark's figures: one side's outcomes and its simulators' counters, summarised.

Owns ``summarise`` (latency p50/p95/p99 and streaming TTFT p50/p95 on the client clock, errors,
cold loads, reloads and evictions from the simulators' own counters, answers by a model other than
the one asked and whether any crossed a category, per-class latency and per-node detail),
``herd_routing`` (where herd sent each model, from its traces) and ``wait_idle`` (trailing requests
finish before the counters are read).

Never starts a fleet or sends the workload, and never judges a target (``bench.fleet`` does).
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from bench.fleet_traffic import Outcome
from bench.workload import CLASSES
from node.sim.catalogue import CATALOGUE
from router.model_names import normalize
from router.model_size import category_of
from tests.procs import wait_until

if TYPE_CHECKING:
    from bench.fleet_runner import Side


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def _catalogue_category(name: str) -> str:
    """The simulator's own category of a model (its capabilities: thinking, vision, code...)."""
    spec = CATALOGUE.get(normalize(name))
    return spec.category if spec else category_of(normalize(name))


def _router_category(name: str) -> str:
    return category_of(normalize(name))


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def _sim_state(url: str, timeout: float) -> dict[str, Any]:
    return httpx.get(f"{url}/_sim/state", timeout=timeout).json()


def _crossed(different: list[Outcome], category: Callable[[str], str]) -> list[Outcome]:
    """The answers by another model whose category (by ``category``) differs from the asked's."""
    return [
        o
        for o in different
        if category(o.fallback_header or o.served_model or o.model) != category(o.model)
    ]


def summarise(side: Side, outcomes: list[Outcome]) -> dict[str, Any]:
    latencies = [o.latency_s for o in outcomes]
    ttfts = [o.ttft_s for o in outcomes if o.stream and o.ttft_s is not None]
    errors = [o for o in outcomes if o.error]
    different = [
        o
        for o in outcomes
        if not o.error
        and (o.fallback_header or (o.served_model and normalize(o.served_model) != o.model))
    ]
    crossed = _crossed(different, _router_category)
    crossed_catalogue = _crossed(different, _catalogue_category)
    per_node: dict[str, Any] = {}
    loads = evictions = reloads = 0
    for node_id, url in side.sims.items():
        state = _sim_state(url, timeout=10)
        records = httpx.get(f"{url}/_sim/records", timeout=30).json()["requests"]
        inference = [r for r in records if r.get("path") in ("/api/chat", "/api/generate")]
        node_loads = sum(state.get("loads", {}).values())
        node_reloads = sum(state.get("reloads", {}).values())
        loads += node_loads
        reloads += node_reloads
        evictions += state.get("evictions", 0)
        by_class: Counter[str] = Counter()
        for record in inference:
            name = normalize(str(record.get("model") or ""))
            by_class[next((c for c, ms in CLASSES.items() if name in ms), "other")] += 1
        per_node[node_id] = {
            "requests": len(inference),
            "requests_by_class": dict(by_class),
            "cold_loads": state.get("loads", {}),
            "reloads": state.get("reloads", {}),
            "evictions": state.get("evictions", 0),
            "loaded_at_end": [m["name"] for m in state.get("loaded", [])],
            "errors": sum(1 for r in inference if r.get("outcome") == "error"),
        }
    by_class_latency: dict[str, dict[str, float | None]] = {}
    for c in CLASSES:
        class_latencies = [o.latency_s for o in outcomes if o.size_class == c]
        by_class_latency[c] = {
            "p50_ms": _ms(_pct(class_latencies, 50)),
            "p95_ms": _ms(_pct(class_latencies, 95)),
        }
    return {
        "requests": len(outcomes),
        "latency_p50_ms": _ms(_pct(latencies, 50)),
        "latency_p95_ms": _ms(_pct(latencies, 95)),
        "latency_p99_ms": _ms(_pct(latencies, 99)),
        "latency_mean_ms": _ms(statistics.fmean(latencies) if latencies else None),
        "ttft_p50_ms": _ms(_pct(ttfts, 50)),
        "ttft_p95_ms": _ms(_pct(ttfts, 95)),
        "errors": len(errors),
        "error_samples": sorted({o.error or "" for o in errors})[:5],
        "cold_loads": loads,
        "reloads": reloads,
        "evictions": evictions,
        "different_model": len(different),
        "different_model_samples": sorted(
            {f"{o.model} -> {o.fallback_header or o.served_model}" for o in different}
        )[:10],
        "other_category": len(crossed),
        "other_category_by_catalogue": len(crossed_catalogue),
        "latency_by_class": by_class_latency,
        "nodes": per_node,
    }


def herd_routing(base_url: str) -> dict[str, Any]:
    """Where herd sent each model (from its traces), for the diagnosis of a missed target."""
    try:
        data = httpx.get(f"{base_url}/dashboard/api/traces", params={"limit": 1000}, timeout=30)
        rows = data.json().get("traces", [])
    except (httpx.HTTPError, ValueError):
        return {}
    table: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    for row in rows:
        asked = str(row.get("original_model") or row.get("model"))
        served = str(row.get("model"))
        where = str(row.get("node_id"))
        table[asked][where if served == asked else f"{where} as {served}"] += 1
        statuses[str(row.get("status"))] += 1
        if row.get("fallback_reason"):
            fallbacks[str(row["fallback_reason"])] += 1
    return {
        "traces": len(rows),
        "statuses": dict(statuses),
        "fallback_reasons": dict(fallbacks),
        "model_to_nodes": {m: dict(c) for m, c in sorted(table.items())},
    }


def wait_idle(side: Side, timeout: float = 30.0) -> None:
    """Let trailing requests finish in the simulators before reading their counters."""

    def idle() -> bool:
        for url in side.sims.values():
            state = _sim_state(url, timeout=5)
            if any(m.get("in_flight") for m in state.get("loaded", [])) or any(
                state.get("queued", {}).values()
            ):
                return False
        return True

    with contextlib.suppress(TimeoutError):
        wait_until(idle, timeout=timeout, interval=0.2, what="simulators idle")
