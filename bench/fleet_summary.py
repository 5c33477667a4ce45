"""The fleet benchmark's figures: one side's outcomes and its simulators' counters, summarised.

Owns ``summarise`` (per size class p50/p95/p99 of latency and streaming time to first token, in
modelled seconds: the client clock divided by the time scale; the longest wait for a first token;
errors; cold loads, reloads and evictions from the simulators' own counters, including those of
simulators killed during the run; answers by another model, disclosed or not, and whether any
crossed a category; requests per node), ``by_class`` (the same percentiles for any rows, used for
the clairvoyant bound too), ``herd_routing`` (where herd sent each model, from its traces) and
``wait_idle`` (trailing requests finish before the counters are read).

Never starts a fleet or sends the workload, and never judges a target (``bench.fleet`` does).
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx

from bench.fleet_traffic import Outcome
from bench.processes import wait_until
from bench.workload import CLASSES
from herd_contract.model_names import normalize
from node.sim.catalogue import CATALOGUE
from router.model_size import category_of


class Side(Protocol):
    """What a summary reads of one side of a run (``fleet_runner.Side``): its simulators' URLs
    by node id, and the counters of those killed during the run."""

    sims: dict[str, str]
    lost_counters: list[dict[str, Any]]


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


def _sim_state(url: str, timeout: float) -> dict[str, Any]:
    return httpx.get(f"{url}/_sim/state", timeout=timeout).json()


def _crossed(different: list[Outcome], category: Callable[[str], str]) -> list[Outcome]:
    """The answers by another model whose category (by ``category``) differs from the asked's."""
    return [
        o
        for o in different
        if category(o.fallback_header or o.served_model or o.model) != category(o.model)
    ]


def sim_counters(url: str) -> dict[str, Any]:
    """A simulator's cold loads, num_ctx reloads and evictions so far."""
    state = _sim_state(url, timeout=10)
    return {
        "cold_loads": sum(state.get("loads", {}).values()),
        "reloads": sum(state.get("reloads", {}).values()),
        "evictions": state.get("evictions", 0),
    }


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and p99 (nearest rank), rounded to milliseconds."""
    return {f"p{q}": _round(_pct(values, q)) for q in (50, 95, 99)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def by_class(
    rows: Sequence[tuple[str, float, float | None]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per size class (and ``all``): latency and TTFT percentiles from (class, latency, ttft)."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for size_class in ("all", *CLASSES):
        chosen = [r for r in rows if size_class in ("all", r[0])]
        if not chosen:
            continue
        out[size_class] = {
            "latency_s": percentiles([r[1] for r in chosen]),
            "ttft_s": percentiles([r[2] for r in chosen if r[2] is not None]),
        }
    return out


def summarise(side: Side, outcomes: list[Outcome], time_scale: float) -> dict[str, Any]:
    """The run's figures, in *modelled* seconds (client-clock times divided by ``time_scale``)."""
    scale = 1.0 / time_scale
    errors = [o for o in outcomes if o.error]
    different = [
        o
        for o in outcomes
        if not o.error
        and (o.fallback_header or (o.served_model and normalize(o.served_model) != o.model))
    ]
    counters = [sim_counters(url) for url in side.sims.values()] + side.lost_counters
    ttfts = [o.ttft_s * scale for o in outcomes if o.stream and o.ttft_s is not None]
    rows = [
        (o.size_class, o.latency_s * scale, o.ttft_s * scale if o.stream and o.ttft_s else None)
        for o in outcomes
    ]
    return {
        "requests": len(outcomes),
        "by_class": by_class(rows),
        "longest_wait_s": _round(max(ttfts, default=None)),
        "errors": len(errors),
        "error_samples": sorted({o.error or "" for o in errors})[:5],
        "cold_loads": sum(c["cold_loads"] for c in counters),
        "reloads": sum(c["reloads"] for c in counters),
        "evictions": sum(c["evictions"] for c in counters),
        "substitutions": len(different),
        "substitution_samples": sorted(
            {f"{o.model} -> {o.fallback_header or o.served_model}" for o in different}
        )[:10],
        "undisclosed_substitutions": sum(1 for o in different if not o.fallback_header),
        "other_category": len(_crossed(different, _router_category)),
        "other_category_by_catalogue": len(_crossed(different, _catalogue_category)),
        "nodes": _per_node(outcomes),
    }


def _per_node(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Requests answered per node and size class (from the ``X-Fleet-Node`` header)."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        if not o.error:
            table[o.node or "?"][o.size_class] += 1
    return {node: dict(counts) for node, counts in sorted(table.items())}


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
