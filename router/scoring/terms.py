"""The terms of the estimate: each of the seven signals as seconds added to the time to last token.

A candidate's estimate is the sum of these terms (plus conversation affinity and health); each is
a small function with one meaning, so a trace explains itself in seconds:

=============  ==================================================================================
term           seconds added (negative: saved)
=============  ==================================================================================
queue          expected wait for a slot: the work ahead (in-flight requests' expected remaining
               time, queued requests' whole time) divided by the slots, once every slot is taken;
               plus the slowdown of decoding beside the others (``CONTENTION`` per other request)
memory_fit     the load, when the model is not loaded: runner start + weights / the node's load
               throughput (measured, else the prior); plus each model it evicts, at its own reload
               time weighted by its recent demand (asked once per ``DEMAND_HORIZON_S``: full cost);
               plus ``TIGHT_SHARE`` of the load when it leaves no headroom and ``WARN_SHARE`` at
               "warn" memory pressure (swapping risk)
latency        the run itself: prompt tokens / prefill speed + output tokens / decode speed, from
               measured speeds of that model on that node, else of that node, else the hardware
               prior from memory bandwidth and model size (``router.scoring.speed``)
context        the reload a new window forces on a loaded model (a larger ``num_ctx``, or a prompt
               that does not fit the loaded window and so is upgraded): the in-flight work drains
               first, then the model reloads from the page cache
thermal        hardware throttling slows the run (``SLOWDOWN``); a model unloaded moments ago
               (warm) reloads from the page cache, saving ``WARM_SAVING`` of its weight reading
availability   ``AVAILABILITY_SHARE`` of the run per unit of unavailability (CPU taken by other
               work, a user at the keyboard, load rising now or expected this hour)
role           big models on big, fast nodes and small ones on small nodes: at most ``ROLE_SHARE``
               of the run, credited or charged; a tie-breaker that speed or a queue outweighs
session        the node that served this conversation holds its prompt in cache: it skips
               ``CACHED_SHARE`` of the prompt evaluation
health         a degraded node (late heartbeats) may be gone: the expected cost of a retry
=============  ==================================================================================

Pure arithmetic over plain numbers: no clock, no I/O, no state.
"""

from __future__ import annotations

from router.scoring.snapshot import Thermal

CONTENTION = 0.2
"""Decode slowdown per other request generating on the same model at once (batching cost)."""
IN_FLIGHT_FLOOR = 0.1
"""A request past its expected time is assumed to have this share of it still to go."""
DEMAND_HORIZON_S = 60.0
"""Evicting a model asked for at least once per this many seconds costs its whole reload."""
TIGHT_SHARE = 0.25
WARN_SHARE = 0.5
SLOWDOWN: dict[Thermal, float] = {"throttled": 1.5, "warm": 1.15}
"""Run-time multiplier by hardware thermal state (missing: 1)."""
WARM_SAVING = 0.5
"""Share of the weight reading a reload from the page cache saves."""
AVAILABILITY_SHARE = 0.3
ROLE_SHARE = 0.05
CACHED_SHARE = 0.8
DEGRADED_PENALTY_S = 5.0
"""Fixed part of a degraded node's penalty (a timeout and a retry elsewhere), plus half the run."""


def queue_wait(
    pending: int, in_flight: int, elapsed_s: float, slots: int, typical_s: float
) -> float:
    """Seconds until a slot frees for a newcomer, with ``in_flight`` requests running for
    ``elapsed_s`` seconds in total and ``pending`` waiting before it on ``slots`` slots."""
    if pending + in_flight < slots:
        return 0.0
    remaining = max(in_flight * typical_s - elapsed_s, in_flight * IN_FLIGHT_FLOOR * typical_s)
    return (remaining + pending * typical_s) / slots


def contention(running_beside: int, decode_s: float) -> float:
    """Extra decode seconds from sharing the model with ``running_beside`` other requests."""
    return CONTENTION * running_beside * decode_s


def eviction_cost(reloads: list[tuple[float, float]]) -> float:
    """What evicting costs later: each evicted model's (reload seconds, demand per second),
    its reload weighted by how likely it is asked for again soon."""
    return sum(reload_s * min(1.0, rate * DEMAND_HORIZON_S) for reload_s, rate in reloads)


def memory_risk(load_s: float, tight: bool, warn: bool) -> float:
    """Seconds charged for loading into little free memory: swapping makes everything slower."""
    return load_s * ((TIGHT_SHARE if tight else 0.0) + (WARN_SHARE if warn else 0.0))


def run_time(prompt_tokens: int, output_tokens: float, prefill_tps: float, decode: float) -> float:
    """Prompt evaluation plus generation, in seconds."""
    return prompt_tokens / prefill_tps + output_tokens / decode


def throttling(thermal: Thermal, run_s: float) -> float:
    """Extra seconds a throttled (or hot) device takes for the run."""
    return (SLOWDOWN.get(thermal, 1.0) - 1.0) * run_s


def warm_credit(load_s: float, runner_start_s: float) -> float:
    """Seconds saved (negative) by reloading from the page cache rather than from disk."""
    return -WARM_SAVING * max(load_s - runner_start_s, 0.0)


def context_reload(reload_s: float, drain_s: float) -> float:
    """A window change on a loaded model: the running requests finish, then it reloads."""
    return drain_s + reload_s


def availability(raw: float, run_s: float) -> float:
    """``raw`` is the snapshot's availability (-1 busy .. 0.2 idle and calming)."""
    return -raw * AVAILABILITY_SHARE * run_s


def role(bigness: float, power: float, run_s: float) -> float:
    """``bigness`` of the model in this fleet and ``power`` of the node, both 0..1."""
    return -ROLE_SHARE * run_s * (2.0 * bigness - 1.0) * (2.0 * power - 1.0)


def session(prefill_s: float) -> float:
    """Seconds saved (negative) by the conversation's prompt cache on the node."""
    return -CACHED_SHARE * prefill_s


def health(degraded: bool, run_s: float) -> float:
    return DEGRADED_PENALTY_S + 0.5 * run_s if degraded else 0.0
