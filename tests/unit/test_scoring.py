"""The scorer: every hard filter and every term of the estimate, each with why the ranking is right.

Fleets are built from ``NodeSnapshot`` directly; nodes that should compare equal except for the
fact under test share every other field, so a ranking can only come from that fact. Estimates are
seconds to the last token: lower is better.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from herd_contract.heartbeat import Heartbeat
from router import model_size, scoring
from router.scoring import (
    SIGNALS,
    Decision,
    LoadedInfo,
    ModelSpeed,
    NodeSnapshot,
    NodeSpeed,
    RouteRequest,
    Speeds,
    effective_parallel,
    rank,
    snapshot_from_heartbeat,
    terms,
)
from tests.factories import heartbeat as make_heartbeat

SMALL = "llama3.1:8b"
BIG = "llama3.1:70b"
SMALL_FILE = 5_000_000_000
BIG_FILE = 42_000_000_000
NOW = 10_000.0


def node(
    node_id: str,
    *,
    total: float = 64.0,
    available: float = 48.0,
    loaded: dict[str, LoadedInfo] | None = None,
    disk: dict[str, int] | None = None,
    **fields: object,
) -> NodeSnapshot:
    return NodeSnapshot(
        node_id=node_id,
        memory_total_gb=total,
        memory_available_gb=available,
        loaded=loaded or {},
        on_disk={SMALL: SMALL_FILE} if disk is None else disk,
        **fields,  # type: ignore[arg-type]
    )


def hot(size: int = SMALL_FILE + 1_000_000_000, ctx: int = 8192, in_flight: int = 0):
    return {SMALL: LoadedInfo(size, ctx, in_flight)}


def request(model: str = SMALL, **fields: object) -> RouteRequest:
    return RouteRequest(model=model, **fields)  # type: ignore[arg-type]


def order(decision: Decision) -> list[str]:
    return [candidate.node_id for candidate in decision.ranked]


def by_id(decision: Decision) -> dict[str, scoring.Candidate]:
    return {candidate.node_id: candidate for candidate in decision.ranked}


# --- hard filters --------------------------------------------------------------------------------


def test_offline_node_is_rejected_with_a_reason() -> None:
    decision = rank([node("a", state="offline"), node("b")], request(), now=NOW)
    assert order(decision) == ["b"]
    assert decision.rejected == {"a": scoring.OFFLINE}


def test_draining_node_takes_no_new_work() -> None:
    decision = rank([node("a", draining=True), node("b")], request(), now=NOW)
    assert order(decision) == ["b"]
    assert decision.rejected["a"] == scoring.DRAINING


def test_excluded_node_is_skipped_on_retry() -> None:
    # The retry must not land on the node that just failed, even though it is the hot one.
    decision = rank(
        [node("a", loaded=hot()), node("b")], request(excluded=frozenset({"a"})), now=NOW
    )
    assert order(decision) == ["b"]
    assert decision.rejected["a"] == scoring.EXCLUDED


def test_degraded_node_is_allowed_but_penalised() -> None:
    # Late heartbeats make a node suspect, not dead: it stays a candidate, behind a healthy twin.
    decision = rank([node("a", state="degraded"), node("b")], request(), now=NOW)
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].breakdown["health"] >= terms.DEGRADED_PENALTY_S
    assert by_id(decision)["b"].breakdown["health"] == 0.0


def test_critical_pressure_rejects_a_load_only_when_nothing_loaded_could_free_memory() -> None:
    # 2 GB of 64 available and nothing of Ollama's to evict: loading would swap, and no model
    # the router could wait for holds the memory.
    cold = rank([node("a", available=2.0, pressure="critical")], request(), now=NOW)
    assert cold.rejected["a"].startswith(scoring.CRITICAL_PRESSURE) and not cold.waiting
    # Serving what is already loaded costs nothing.
    warm = rank([node("a", pressure="critical", loaded=hot()), node("b")], request(), now=NOW)
    assert "a" not in warm.rejected
    assert by_id(warm)["a"].breakdown["memory_fit"] == 0.0


def test_critical_pressure_from_idle_models_loads_by_evicting_enough_to_leave_it() -> None:
    # Two idle 30 GB models fill the node: the 8B fits once one goes, and that one eviction also
    # leaves more than the 5 % the agent needs to call pressure normal again.
    idle = {f"m{i}:latest": LoadedInfo(30_000_000_000, 4096, 0) for i in range(2)}
    full = node("a", available=1.0, loaded=idle, pressure="critical")
    decision = rank([full], request(), now=NOW)
    assert order(decision) == ["a"]
    assert len(decision.ranked[0].evicts) == 1


def test_critical_pressure_from_busy_models_makes_the_request_wait_not_fail() -> None:
    # The same node with both models serving: it is blocked (estimated, with the wait for a busy
    # model), so the request waits for it, where a rejection would have been a 503.
    busy = {f"m{i}:latest": LoadedInfo(30_000_000_000, 4096, 1) for i in range(2)}
    full = node("a", available=1.0, loaded=busy, pressure="critical")
    decision = rank([full], request(), now=NOW)
    assert decision.ranked == [] and decision.rejected["a"].startswith(scoring.BLOCKED)
    assert [c.node_id for c in decision.waiting] == ["a"]
    assert decision.waiting[0].evicts


def test_absent_model_is_rejected() -> None:
    decision = rank([node("a", disk={}), node("b")], request(), now=NOW)
    assert order(decision) == ["b"]
    assert decision.rejected["a"] == scoring.ABSENT


def test_loaded_but_not_listed_on_disk_still_counts() -> None:
    # /api/ps can list a model the tags list missed; a loaded model is present by definition.
    decision = rank([node("a", disk={}, loaded=hot())], request(), now=NOW)
    assert order(decision) == ["a"]


def test_model_larger_than_the_node_is_rejected() -> None:
    decision = rank(
        [node("small", total=32, available=30, disk={BIG: BIG_FILE})], request(BIG), now=NOW
    )
    assert decision.rejected["small"].startswith(scoring.TOO_LARGE)


def test_fits_after_evicting_idle_models() -> None:
    # Known trap: comparing with free memory only refused every request for the largest model.
    # 20 GB free is too little for a 70B, but Ollama evicts the idle models to make room.
    idle = {f"m{i}:latest": LoadedInfo(30_000_000_000, 4096, 0) for i in range(3)}
    big = node("big", total=128, available=20, loaded=idle, disk={BIG: BIG_FILE})
    decision = rank([big], request(BIG), now=NOW)
    assert order(decision) == ["big"]
    candidate = decision.ranked[0]
    assert candidate.evicts and candidate.needs_load and not candidate.hot
    # Enough of the idle models to make room go, not all three.
    assert len(candidate.evicts) == 1


def test_busy_model_that_cannot_be_evicted_blocks() -> None:
    # The same node, but the loaded models are serving requests: Ollama cannot evict them.
    busy = {f"m{i}:latest": LoadedInfo(30_000_000_000, 4096, 1) for i in range(3)}
    big = node("big", total=128, available=20, loaded=busy, disk={BIG: BIG_FILE})
    decision = rank([big], request(BIG), now=NOW)
    assert decision.ranked == []
    assert decision.rejected["big"].startswith(scoring.BLOCKED)


def test_a_blocked_node_is_still_estimated_with_the_wait_for_the_busy_model() -> None:
    # The 70B fits once the busy 30 GB model finishes: the node is rejected as blocked (nothing
    # can be loaded there now) but its estimate counts that wait, longer while more is queued.
    busy = {"other:latest": LoadedInfo(30_000_000_000, 4096, 0)}
    big = node("big", total=64, available=20, loaded=busy, disk={BIG: BIG_FILE})
    running = {("big", "other:latest"): (0, 1, 0.0)}
    queued = {("big", "other:latest"): (3, 1, 0.0)}
    soon = rank([big], request(BIG), now=NOW, queues=running)
    later = rank([big], request(BIG), now=NOW, queues=queued)
    assert soon.ranked == [] and soon.rejected["big"].startswith(scoring.BLOCKED)
    assert [c.node_id for c in soon.waiting] == ["big"]
    assert later.waiting[0].estimate_s > soon.waiting[0].estimate_s > 0
    assert soon.waiting[0].evicts == ("other:latest",)


def test_busy_according_to_the_router_queues_also_blocks() -> None:
    # The router's own in-flight count marks a loaded model busy even if the node did not say so.
    loaded = {"other:latest": LoadedInfo(100_000_000_000, 4096, 0)}
    big = node("big", total=128, available=20, loaded=loaded, disk={BIG: BIG_FILE})
    free = rank([big], request(BIG), now=NOW)
    assert order(free) == ["big"]
    busy = rank([big], request(BIG), now=NOW, queues={("big", "other:latest"): (0, 1, 0.0)})
    assert busy.rejected["big"].startswith(scoring.BLOCKED)


def test_memory_held_by_other_programs_rejects() -> None:
    # Nothing loaded to evict and too little available: the memory belongs to something else.
    decision = rank([node("a", total=16, available=2)], request(), now=NOW)
    assert decision.rejected["a"].startswith(scoring.INSUFFICIENT)


def test_memory_held_by_a_load_under_way_blocks_rather_than_rejects() -> None:
    # The router has a request running for "other" there, which the node does not list yet (a
    # heartbeat shows a load once it is done): its load holds the memory. The request waits for
    # it, as for a busy model, instead of a 503; the model being loaded itself takes the rest.
    big = node("big", total=64, available=4, disk={BIG: BIG_FILE, "other:latest": BIG_FILE})
    loading = {("big", "other:latest"): (0, 1, 0.0)}
    decision = rank([big], request(BIG), now=NOW, queues=loading)
    assert decision.ranked == [] and decision.rejected["big"].startswith(scoring.BLOCKED)
    assert [c.node_id for c in decision.waiting] == ["big"]
    assert decision.waiting[0].evicts == ("other:latest",)
    same = rank([big], request("other:latest"), now=NOW, queues=loading)
    assert order(same) == ["big"]
    idle = rank([big], request(BIG), now=NOW)
    assert idle.rejected["big"].startswith(scoring.INSUFFICIENT)


def test_max_loaded_models_reached_with_busy_models_blocks() -> None:
    # Memory is plentiful but OLLAMA_MAX_LOADED_MODELS is reached: a busy model must finish first.
    busy = {"other:latest": LoadedInfo(2_000_000_000, 4096, 1)}
    blocked = rank([node("a", loaded=busy, max_loaded_models=1)], request(), now=NOW)
    assert blocked.rejected["a"].startswith(scoring.BLOCKED)
    idle = {"other:latest": LoadedInfo(2_000_000_000, 4096, 0)}
    evicting = rank([node("a", loaded=idle, max_loaded_models=1)], request(), now=NOW)
    assert by_id(evicting)["a"].evicts


def test_node_file_size_beats_an_unknown_request_estimate() -> None:
    # The request only knows the name (unknown size -> a large default), but this 16 GB node has
    # the file and its real size: the model is judged by that, not refused.
    req = request(size_bytes=model_size.UNKNOWN_MODEL_BYTES)
    assert order(rank([node("a", total=16, available=12)], req, now=NOW)) == ["a"]
    # Without a file size the pessimistic default applies and the small node is refused.
    unknown = node("a", total=16, available=12, disk={SMALL: 0})
    assert rank([unknown], req, now=NOW).rejected["a"].startswith(scoring.TOO_LARGE)


# --- thermal: hot, warm, cold, throttling ---------------------------------------------------------


def test_hot_beats_warm_beats_cold() -> None:
    # A loaded model answers now; a recently unloaded one reloads from the page cache; a cold one
    # reads its whole file from disk first.
    fleet = [
        node("a-cold"),
        node("b-warm", recently_unloaded={SMALL: NOW - 60}),
        node("c-hot", loaded=hot()),
    ]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision) == ["c-hot", "b-warm", "a-cold"]
    ranked = by_id(decision)
    assert ranked["c-hot"].breakdown["memory_fit"] == 0.0
    assert ranked["a-cold"].breakdown["memory_fit"] == ranked["b-warm"].breakdown["memory_fit"] > 0
    assert ranked["b-warm"].breakdown["thermal"] < 0 == ranked["a-cold"].breakdown["thermal"]
    assert ranked["c-hot"].hot and not ranked["c-hot"].needs_load


def test_warm_expires_after_the_window() -> None:
    stale = node("a", recently_unloaded={SMALL: NOW - scoring.WARM_WINDOW_S - 1})
    assert rank([stale], request(), now=NOW).ranked[0].breakdown["thermal"] == 0.0


def test_throttled_node_is_slower_by_its_factor() -> None:
    fleet = [
        node("a", loaded=hot(), thermal="throttled"),
        node("b", loaded=hot(), thermal="normal"),
    ]
    ranked = by_id(rank(fleet, request(), now=NOW))
    assert order(rank(fleet, request(), now=NOW)) == ["b", "a"]
    run = ranked["a"].run_s
    assert ranked["a"].breakdown["thermal"] == pytest.approx(
        (terms.SLOWDOWN["throttled"] - 1) * run
    )


# --- memory fit: the load and what it evicts -----------------------------------------------------


def test_a_cold_load_costs_its_measured_load_time() -> None:
    # Both cold; "b" was measured loading this model in 2 s, "a" in 9 s.
    speeds = Speeds(
        models={("a", SMALL): ModelSpeed(load_s=9.0), ("b", SMALL): ModelSpeed(load_s=2.0)}
    )
    decision = rank([node("a"), node("b")], request(), now=NOW, speeds=speeds)
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].breakdown["memory_fit"] == pytest.approx(9.0)


def test_load_throughput_carries_over_to_other_models_of_the_node() -> None:
    # Nothing measured for this model, but "fast" loads weights three times faster in general.
    speeds = Speeds(nodes={"slow": NodeSpeed(load_gbps=1.0), "fast": NodeSpeed(load_gbps=3.0)})
    decision = rank([node("slow"), node("fast")], request(), now=NOW, speeds=speeds)
    assert order(decision) == ["fast", "slow"]
    mem = {c.node_id: c.breakdown["memory_fit"] for c in decision.ranked}
    assert mem["slow"] - mem["fast"] == pytest.approx(SMALL_FILE / 1e9 * (1 - 1 / 3))


def test_evicting_a_model_in_demand_costs_its_reload() -> None:
    # Both nodes must evict one idle model to load ours; the one on "a" is asked for every few
    # seconds, the one on "b" was not asked for lately.
    wanted = {"popular:7b": LoadedInfo(40_000_000_000, 4096, 0)}
    unwanted = {"forgotten:7b": LoadedInfo(40_000_000_000, 4096, 0)}
    fleet = [node("a", available=2, loaded=wanted), node("b", available=2, loaded=unwanted)]
    demand = {"popular:7b": 0.2, "forgotten:7b": 0.0}
    decision = rank(fleet, request(), now=NOW, demand=demand)
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].evicts == ("popular:7b",)
    assert (
        by_id(decision)["a"].breakdown["memory_fit"] > by_id(decision)["b"].breakdown["memory_fit"]
    )


def test_the_model_ollama_unloads_first_is_the_one_charged_not_the_least_demanded() -> None:
    # Ollama unloads idle models of equal keep-alive in the order of their weights blob's path,
    # whatever their demand: here the popular model's blob sorts first, so loading ours evicts
    # it and is charged its reload; a model kept forever would go last.
    def model(blob: str, forever: bool = False) -> LoadedInfo:
        return LoadedInfo(40_000_000_000, 4096, 0, weights_blob=blob, kept_forever=forever)

    loaded = {"popular:7b": model("sha256-0a"), "forgotten:7b": model("sha256-ff")}
    demand = {"popular:7b": 0.2, "forgotten:7b": 0.0}
    a = node("a", total=100, available=2, loaded=loaded)
    decision = rank([a], request(), now=NOW, demand=demand)
    assert by_id(decision)["a"].evicts == ("popular:7b",)
    pinned = {"popular:7b": model("sha256-0a", forever=True), "forgotten:7b": model("sha256-ff")}
    decision = rank([node("a", available=2, loaded=pinned)], request(), now=NOW, demand=demand)
    assert by_id(decision)["a"].evicts == ("forgotten:7b",)
    unknown = {"popular:7b": model(""), "forgotten:7b": model("sha256-ff")}
    decision = rank([node("a", available=2, loaded=unknown)], request(), now=NOW, demand=demand)
    assert by_id(decision)["a"].evicts == ("forgotten:7b",)  # no blob: the least demanded


def test_a_model_kept_forever_is_read_from_its_expiry() -> None:
    hb = make_heartbeat("n", loaded=[("a:1b", 1.0), ("b:1b", 1.0)], available=[("a:1b", 1.0)])
    hb.ollama.models_loaded[0].expires_at = "2318-02-23T11:42:06.68Z"  # keep_alive -1
    hb.ollama.models_loaded[1].expires_at = "2026-11-30T02:30:00Z"
    hb.ollama.models_available[0].weights_blob = "sha256-0a"
    snapshot = scoring.snapshot_from_heartbeat(hb)
    assert snapshot.loaded["a:1b"].unload_order == (True, "sha256-0a")
    assert snapshot.loaded["b:1b"].unload_order == (False, "")


def test_headroom_beats_tight_beats_warn_pressure() -> None:
    fleet = [node("a-warn", pressure="warn"), node("b-tight", available=7.5), node("c-roomy")]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision) == ["c-roomy", "b-tight", "a-warn"]


# --- queue: the wait for a slot -------------------------------------------------------------------


def test_the_wait_is_the_work_ahead_over_the_slots() -> None:
    # Two slots, both busy (just started), one more waiting: the newcomer waits for
    # (2 remaining + 1 whole) service times over 2 slots = 1.5 service times.
    fleet = [node("a", loaded=hot(), num_parallel=2)]
    cand = rank(fleet, request(), now=NOW, queues={("a", SMALL): (1, 2, 0.0)}).ranked[0]
    service = cand.run_s
    wait = cand.breakdown["queue"] - terms.contention(1, cand.run_s - 0.0)
    assert wait == pytest.approx(1.5 * service, rel=0.01)


def test_requests_far_into_their_run_free_their_slot_sooner() -> None:
    fleet = [node("a", loaded=hot(), num_parallel=1), node("b", loaded=hot(), num_parallel=1)]
    queues = {("a", SMALL): (0, 1, 0.0), ("b", SMALL): (0, 1, 20.0)}
    decision = rank(fleet, request(), now=NOW, queues=queues)
    assert order(decision) == ["b", "a"]
    ranked = by_id(decision)
    assert 0 < ranked["b"].breakdown["queue"] < ranked["a"].breakdown["queue"]


def test_saturated_queue_yields_to_the_next_node() -> None:
    fleet = [node("a", loaded=hot(), num_parallel=2), node("b", loaded=hot(), num_parallel=2)]
    assert order(rank(fleet, request(), now=NOW)) == ["a", "b"]
    decision = rank(fleet, request(), now=NOW, queues={("a", SMALL): (1, 2, 0.0)})
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].queue_depth == 3 and not by_id(decision)["a"].free_slot


def test_deep_queue_on_a_hot_node_loses_to_a_cold_idle_node() -> None:
    # Waiting behind many requests takes longer than loading the model elsewhere.
    fleet = [node("a", loaded=hot(), num_parallel=1), node("b")]
    decision = rank(fleet, request(), now=NOW, queues={("a", SMALL): (4, 1, 0.0)})
    assert order(decision) == ["b", "a"]


def test_a_short_queue_beats_a_slow_cold_load() -> None:
    # One request ahead on the hot node costs less than loading a big file on a slow disk.
    fleet = [node("a", loaded=hot(), num_parallel=1), node("b")]
    speeds = Speeds(models={("b", SMALL): ModelSpeed(load_s=60.0)})
    decision = rank(fleet, request(), now=NOW, queues={("a", SMALL): (0, 1, 0.0)}, speeds=speeds)
    assert order(decision) == ["a", "b"]


def test_unknown_num_parallel_is_not_treated_as_one() -> None:
    # Known trap: an agent without OLLAMA_NUM_PARALLEL made the router serialise every model.
    fleet = [node("a-known-1", loaded=hot(), num_parallel=1), node("b-unknown", loaded=hot())]
    queues = {("a-known-1", SMALL): (0, 1, 0.0), ("b-unknown", SMALL): (0, 1, 0.0)}
    decision = rank(fleet, request(), now=NOW, queues=queues)
    assert order(decision) == ["b-unknown", "a-known-1"]
    unknown = by_id(decision)["b-unknown"]
    assert unknown.parallel >= 2 and unknown.free_slot


def test_effective_parallel_from_memory() -> None:
    assert effective_parallel(node("a", num_parallel=3), 5.0) == 3
    assert effective_parallel(node("a", total=128), 5.0) == 4
    assert effective_parallel(node("a", total=16), 8.0) == 2
    assert effective_parallel(node("a", total=128), 60.0) == 2


# --- latency: the run at the measured (or prior) speed -------------------------------------------


def fast_and_slow(**slow_fields: object) -> list[NodeSnapshot]:
    return [
        node("fast", total=128, available=100, bandwidth_gbps=600.0, loaded=hot(), num_parallel=2),
        node("slow", total=16, available=8, bandwidth_gbps=200.0, loaded=hot(), num_parallel=2),
    ]


def test_a_node_three_times_faster_wins_small_model_traffic_with_a_free_slot() -> None:
    # Known trap: small-model traffic went to the slow devices ~90 % of the time while the 3x
    # faster node had free slots. Both idle: the fast one. One of its two slots busy: still it.
    assert order(rank(fast_and_slow(), request(), now=NOW)) == ["fast", "slow"]
    busy = {("fast", SMALL): (0, 1, 0.0)}
    assert order(rank(fast_and_slow(), request(), now=NOW, queues=busy)) == ["fast", "slow"]
    # Both of its slots taken and two waiting: the slow node with a free slot finishes first.
    full = {("fast", SMALL): (2, 2, 0.0)}
    assert order(rank(fast_and_slow(), request(), now=NOW, queues=full)) == ["slow", "fast"]


def test_measured_speed_beats_the_bandwidth_prior() -> None:
    # The prior says "fast" is 3x faster; measurements say it is the slow one here.
    speeds = Speeds(
        models={
            ("fast", SMALL): ModelSpeed(decode_tps=10.0, prefill_tps=100.0, samples=5),
            ("slow", SMALL): ModelSpeed(decode_tps=40.0, prefill_tps=400.0, samples=5),
        }
    )
    decision = rank(fast_and_slow(), request(output_tokens=100), now=NOW, speeds=speeds)
    assert order(decision) == ["slow", "fast"]
    assert by_id(decision)["fast"].breakdown["latency"] == pytest.approx(10.0)


def test_a_node_measured_bandwidth_carries_over_to_unmeasured_models() -> None:
    # Heartbeats claim equal bandwidth; "b" proved twice as effective on other models.
    fleet = [node("a", bandwidth_gbps=400.0), node("b", bandwidth_gbps=400.0)]
    speeds = Speeds(nodes={"a": NodeSpeed(bandwidth_gbps=100.0), "b": NodeSpeed(200.0)})
    decision = rank(fleet, request(output_tokens=100), now=NOW, speeds=speeds)
    lat = {c.node_id: c.breakdown["latency"] for c in decision.ranked}
    assert order(decision) == ["b", "a"]
    assert lat["a"] == pytest.approx(2 * lat["b"])


def test_longer_answers_cost_more_on_a_slow_node() -> None:
    short = rank(fast_and_slow(), request(output_tokens=10), now=NOW).ranked
    long = rank(fast_and_slow(), request(output_tokens=1000), now=NOW).ranked
    gap_short = short[1].estimate_s - short[0].estimate_s
    gap_long = long[1].estimate_s - long[0].estimate_s
    assert gap_long > 10 * gap_short > 0


# --- role affinity -------------------------------------------------------------------------------


def big_and_small(**big_fields: object) -> list[NodeSnapshot]:
    disk = {SMALL: SMALL_FILE, BIG: BIG_FILE}
    return [
        node("big", total=128, available=110, bandwidth_gbps=400.0, disk=disk, **big_fields),
        node("mid", total=64, available=60, bandwidth_gbps=400.0, disk=disk),
        node("small", total=16, available=12, bandwidth_gbps=400.0, disk=disk),
    ]


def test_big_model_goes_to_the_big_machine() -> None:
    # Same speed: the 70B belongs on the bigger machine (role credits it), the 16 GB is too small.
    decision = rank(big_and_small(), request(BIG), now=NOW)
    assert order(decision) == ["big", "mid"]
    assert decision.rejected["small"].startswith(scoring.TOO_LARGE)
    assert by_id(decision)["big"].breakdown["role"] < by_id(decision)["mid"].breakdown["role"]


def test_small_model_goes_to_the_small_machine_when_speed_is_equal() -> None:
    decision = rank(big_and_small(), request(), now=NOW)
    assert order(decision)[0] == "small"
    role = {c.node_id: c.breakdown["role"] for c in decision.ranked}
    assert role["small"] < role["mid"] < role["big"]


def test_role_is_a_tie_breaker_that_speed_outweighs() -> None:
    role = [abs(c.breakdown["role"]) for c in rank(fast_and_slow(), request(), now=NOW).ranked]
    runs = [c.run_s for c in rank(fast_and_slow(), request(), now=NOW).ranked]
    assert max(role) <= terms.ROLE_SHARE * max(runs)


# --- availability --------------------------------------------------------------------------------


def test_falling_availability_is_penalised() -> None:
    fleet = [
        node("a", loaded=hot(), cpu_history=(10.0, 10.0, 50.0, 50.0)),
        node("b", loaded=hot(), cpu_history=(50.0, 50.0, 50.0, 50.0)),
        node("c", loaded=hot(), cpu_history=(90.0, 90.0, 50.0, 50.0)),
    ]
    assert order(rank(fleet, request(), now=NOW)) == ["c", "b", "a"]


def test_busy_cpu_and_active_user_are_penalised() -> None:
    fleet = [
        node("a", loaded=hot(), cpu_history=(80.0,)),
        node("b", loaded=hot(), user_active=True),
        node("c", loaded=hot(), cpu_history=(5.0,), user_active=False),
    ]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision)[0] == "c"
    assert by_id(decision)["a"].breakdown["availability"] > 0
    assert by_id(decision)["b"].breakdown["availability"] > 0


# --- context fit ---------------------------------------------------------------------------------


def test_a_prompt_that_overflows_the_loaded_window_is_upgraded_at_a_reload_cost() -> None:
    # A 3000-token prompt overflows a 2048 window: never truncated; the window is upgraded, which
    # reloads the model there. The node already loaded with 8192 holds it as is.
    fleet = [node("a", loaded=hot(ctx=2048)), node("b", loaded=hot(ctx=8192))]
    decision = rank(fleet, request(prompt_tokens=3000), now=NOW)
    assert order(decision) == ["b", "a"]
    a, b = by_id(decision)["a"], by_id(decision)["b"]
    assert a.num_ctx == 4096 and a.needs_load and a.breakdown["context"] > 0
    assert b.num_ctx is None and not b.needs_load and b.breakdown["context"] == 0.0


def test_larger_num_ctx_than_loaded_means_a_reload() -> None:
    fleet = [node("a", loaded=hot(ctx=8192)), node("b", loaded=hot(ctx=16384))]
    decision = rank(fleet, request(num_ctx=16384), now=NOW)
    assert order(decision) == ["b", "a"]
    a = by_id(decision)["a"]
    assert a.needs_load and a.hot and a.breakdown["context"] > 0


def test_the_reload_waits_for_running_requests() -> None:
    fleet = [node("a", loaded=hot(ctx=8192), num_parallel=4)]
    idle = rank(fleet, request(num_ctx=16384), now=NOW).ranked[0]
    busy = rank(fleet, request(num_ctx=16384), now=NOW, queues={("a", SMALL): (0, 2, 0.0)})
    assert busy.ranked[0].breakdown["context"] > idle.breakdown["context"]


def test_smaller_num_ctx_reloads_only_without_context_protection() -> None:
    fleet = [node("a", loaded=hot(ctx=8192))]
    protected = rank(fleet, request(num_ctx=4096), now=NOW).ranked[0]
    assert not protected.needs_load
    unprotected = rank(fleet, request(num_ctx=4096, context_protection=False), now=NOW)
    assert unprotected.ranked[0].needs_load


def test_cold_load_with_a_small_default_window_is_upgraded_for_free() -> None:
    # The load happens anyway: it is done with a window that holds the prompt.
    fleet = [node("a", default_context_length=2048)]
    cand = rank(fleet, request(prompt_tokens=3000), now=NOW).ranked[0]
    assert cand.num_ctx == 4096 and cand.breakdown["context"] == 0.0


# --- session affinity ----------------------------------------------------------------------------


def test_session_affinity_wins_a_tie() -> None:
    fleet = [node("a", loaded=hot(), num_parallel=2), node("b", loaded=hot(), num_parallel=2)]
    decision = rank(
        fleet, request(session_key="s1", prompt_tokens=2000), now=NOW, sessions={"s1": "b"}
    )
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["b"].breakdown["session"] < 0


def test_session_affinity_does_not_beat_a_long_wait() -> None:
    fleet = [node("a", loaded=hot(), num_parallel=2), node("b", loaded=hot(), num_parallel=2)]
    decision = rank(
        fleet,
        request(session_key="s1", prompt_tokens=200),
        now=NOW,
        sessions={"s1": "b"},
        queues={("b", SMALL): (3, 2, 0.0)},
    )
    assert order(decision) == ["a", "b"]


def test_session_affinity_needs_the_model_still_loaded() -> None:
    fleet = [node("a"), node("b")]
    decision = rank(fleet, request(session_key="s1"), now=NOW, sessions={"s1": "b"})
    assert by_id(decision)["b"].breakdown["session"] == 0.0


# --- the result ----------------------------------------------------------------------------------


def test_breakdown_has_every_signal_and_sums_to_the_estimate() -> None:
    fleet = [node("a", loaded=hot(), cpu_history=(20.0, 40.0)), node("b", state="degraded")]
    speeds = Speeds(models={("a", SMALL): ModelSpeed(40.0, 400.0, None, 10)})
    decision = rank(fleet, request(session_key="s"), now=NOW, speeds=speeds, sessions={"s": "a"})
    assert len(decision.ranked) == 2
    for candidate in decision.ranked:
        assert tuple(candidate.breakdown) == SIGNALS
        assert candidate.estimate_s == pytest.approx(sum(candidate.breakdown.values()))
        assert candidate.estimate_s > 0


def test_ties_break_by_node_id_whatever_the_input_order() -> None:
    fleet = [node(f"n{i:02d}", loaded=hot()) for i in range(12)]
    expected = [f"n{i:02d}" for i in range(12)]
    rng = random.Random(3)
    for _ in range(5):
        shuffled = fleet[:]
        rng.shuffle(shuffled)
        assert order(rank(shuffled, request(), now=NOW)) == expected


def test_same_inputs_same_decision_and_inputs_untouched() -> None:
    fleet = big_and_small()
    queues = {("mid", SMALL): (1, 1, 0.5)}
    speeds = Speeds(models={("big", SMALL): ModelSpeed(50.0)})
    sessions = {"s": "mid"}
    before = (dict(queues), speeds, dict(sessions), [dataclasses.astuple(n) for n in fleet])
    req = request(session_key="s")
    first = rank(fleet, req, now=NOW, queues=queues, speeds=speeds, sessions=sessions)
    second = rank(fleet, req, now=NOW, queues=queues, speeds=speeds, sessions=sessions)
    assert first == second
    after = (dict(queues), speeds, dict(sessions), [dataclasses.astuple(n) for n in fleet])
    assert before == after


def test_empty_fleet_gives_no_best() -> None:
    decision = rank([], request(), now=NOW)
    assert decision.ranked == [] and decision.rejected == {} and decision.best is None


# --- snapshots from heartbeats -------------------------------------------------------------------


GB_BYTES = 1_000_000_000


def heartbeat(**overrides: object) -> Heartbeat:
    data: dict[str, object] = {
        "node_id": "studio",
        "hardware": {
            "memory_bytes": 128 * GB_BYTES,
            "memory_bandwidth_gbps": 800,
            "thermal_state": "normal",
        },
        "cpu": {"cores": 16, "utilization_pct": 12.0},
        "memory": {
            "total_bytes": 128 * GB_BYTES,
            "used_bytes": 40 * GB_BYTES,
            "available_bytes": 88 * GB_BYTES,
            "pressure": "normal",
        },
        "disk": {
            "total_bytes": 2000 * GB_BYTES,
            "used_bytes": 500 * GB_BYTES,
            "free_bytes": 1500 * GB_BYTES,
        },
        "ollama": {
            "url": "http://127.0.0.1:11434",
            "num_parallel": None,
            "models_loaded": [
                {"name": "Llama3.1:8B", "size": 6_000_000_000, "context_length": 8192}
            ],
            "models_available": [
                {"name": "llama3.1:8b", "size": SMALL_FILE},
                {"name": "qwen3", "size": 5_200_000_000},
            ],
        },
    }
    data.update(overrides)
    return Heartbeat.model_validate(data)


def test_snapshot_from_heartbeat_normalises_and_derives() -> None:
    snap = snapshot_from_heartbeat(
        heartbeat(), cpu_history=(10.0, 12.0), recently_unloaded={"old:latest": NOW}
    )
    assert snap.node_id == "studio" and snap.memory_total_gb == 128
    assert snap.loaded[SMALL].context_length == 8192
    assert set(snap.on_disk) == {SMALL, "qwen3:latest"}
    assert snap.disk_need_gb["qwen3:latest"] > 5.2
    assert snap.disk_free_gb == 1500 and snap.bandwidth_gbps == 800
    decision = rank([snap], request(), now=NOW)
    assert decision.ranked[0].hot


def test_draining_heartbeat_is_rejected() -> None:
    snap = snapshot_from_heartbeat(heartbeat(status="draining"))
    assert rank([snap], request(), now=NOW).rejected["studio"] == scoring.DRAINING


def test_snapshots_carry_cpu_history_and_unloads_forward() -> None:
    # The registry only passes the previous snapshot: the trend and the warm set build themselves.
    first = snapshot_from_heartbeat(heartbeat(), now=NOW)
    assert first.cpu_history == (12.0,)
    gone = heartbeat(
        cpu={"cores": 16, "utilization_pct": 60.0},
        ollama={"url": "http://127.0.0.1:11434", "models_available": [{"name": SMALL}]},
    )
    second = snapshot_from_heartbeat(gone, previous=first, now=NOW + 5)
    assert second.cpu_history == (12.0, 60.0)
    assert second.recently_unloaded == {SMALL: NOW + 5}
    # Warm now: the model left memory five seconds ago.
    assert rank([second], request(), now=NOW + 6).ranked[0].breakdown["thermal"] < 0
    # A reload clears the mark, and history stays bounded.
    third = snapshot_from_heartbeat(heartbeat(), previous=second, now=NOW + 10)
    assert third.recently_unloaded == {}
    snap = third
    for step in range(40):
        snap = snapshot_from_heartbeat(heartbeat(), previous=snap, now=NOW + 15 + step)
    assert len(snap.cpu_history) == scoring.CPU_HISTORY_LEN


def test_a_node_about_to_get_busy_loses_availability() -> None:
    # Both idle now; the weekly pattern says "quiet" is about to get busy for 90 % of the hour.
    fleet = [
        node("steady", loaded=hot(), num_parallel=1, expected_busy_pct=5.0),
        node("rush-hour", loaded=hot(), num_parallel=1, expected_busy_pct=90.0),
    ]
    ranked = by_id(rank(fleet, request(), now=NOW))
    assert order(rank(fleet, request(), now=NOW)) == ["steady", "rush-hour"]
    assert (
        ranked["rush-hour"].breakdown["availability"] > ranked["steady"].breakdown["availability"]
    )
