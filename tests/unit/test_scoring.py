"""The scorer: every hard filter and every signal, each with why the expected ranking is right.

Fleets are built from ``NodeSnapshot`` directly; nodes that should compare equal except for the
fact under test share every other field, so a ranking can only come from that fact.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from router import model_size, scoring
from router.scoring import (
    SIGNALS,
    Decision,
    LatencyStats,
    LoadedInfo,
    NodeSnapshot,
    RouteRequest,
    Weights,
    effective_parallel,
    rank,
    snapshot_from_heartbeat,
)
from router.wire import Heartbeat

SMALL = "llama3.1:8b"
BIG = "llama3.1:70b"
SMALL_FILE = 5_000_000_000
BIG_FILE = 42_000_000_000
NOW = 10_000.0
W = Weights()


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
    assert by_id(decision)["a"].breakdown["health"] == -W.health
    assert by_id(decision)["b"].breakdown["health"] == 0.0


def test_critical_pressure_rejects_a_load_but_not_a_loaded_model() -> None:
    # Loading more at critical pressure would swap; serving what is already loaded costs nothing.
    cold = rank([node("a", pressure="critical")], request(), now=NOW)
    assert cold.rejected["a"] == scoring.CRITICAL_PRESSURE
    warm = rank([node("a", pressure="critical", loaded=hot()), node("b")], request(), now=NOW)
    assert "a" not in warm.rejected
    assert by_id(warm)["a"].breakdown["memory_fit"] < W.memory_fit


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


def test_busy_model_that_cannot_be_evicted_blocks() -> None:
    # The same node, but the loaded models are serving requests: Ollama cannot evict them.
    busy = {f"m{i}:latest": LoadedInfo(30_000_000_000, 4096, 1) for i in range(3)}
    big = node("big", total=128, available=20, loaded=busy, disk={BIG: BIG_FILE})
    decision = rank([big], request(BIG), now=NOW)
    assert decision.ranked == []
    assert decision.rejected["big"].startswith(scoring.BLOCKED)


def test_busy_according_to_the_router_queues_also_blocks() -> None:
    # The router's own in-flight count marks a loaded model busy even if the node did not say so.
    loaded = {"other:latest": LoadedInfo(100_000_000_000, 4096, 0)}
    big = node("big", total=128, available=20, loaded=loaded, disk={BIG: BIG_FILE})
    free = rank([big], request(BIG), now=NOW)
    assert order(free) == ["big"]
    busy = rank([big], request(BIG), now=NOW, queues={("big", "other:latest"): (0, 1)})
    assert busy.rejected["big"].startswith(scoring.BLOCKED)


def test_memory_held_by_other_programs_rejects() -> None:
    # Nothing loaded to evict and too little available: the memory belongs to something else.
    decision = rank([node("a", total=16, available=2)], request(), now=NOW)
    assert decision.rejected["a"].startswith(scoring.INSUFFICIENT)


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


# --- 1. thermal ----------------------------------------------------------------------------------


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
    thermal = {c.node_id: c.breakdown["thermal"] for c in decision.ranked}
    assert thermal == {"c-hot": W.thermal, "b-warm": W.thermal * 0.5, "a-cold": 0.0}
    assert by_id(decision)["c-hot"].hot and not by_id(decision)["c-hot"].needs_load


def test_warm_expires_after_the_window() -> None:
    # An unload long ago is as cold as never loaded.
    stale = node("a", recently_unloaded={SMALL: NOW - W.warm_window_s - 1})
    decision = rank([stale], request(), now=NOW)
    assert decision.ranked[0].breakdown["thermal"] == 0.0


def test_throttled_node_loses_points() -> None:
    # Two hot twins; the throttling one decodes slower until it cools down.
    fleet = [
        node("a", loaded=hot(), thermal="throttled"),
        node("b", loaded=hot(), thermal="normal"),
    ]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].breakdown["thermal"] < by_id(decision)["b"].breakdown["thermal"]


# --- 2. memory fit -------------------------------------------------------------------------------


def test_headroom_beats_tight_beats_evicting() -> None:
    # Same-sized nodes, model cold on all: free memory with headroom is best; a load that leaves
    # nothing spare comes next; one that needs to evict someone else's idle model comes last.
    idle = {"other:latest": LoadedInfo(10_000_000_000, 4096, 0)}
    fleet = [
        node("a-evict", available=2, loaded=idle),
        node("b-tight", available=7.5),
        node("c-roomy", available=40),
    ]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision) == ["c-roomy", "b-tight", "a-evict"]
    fit = {c.node_id: c.breakdown["memory_fit"] for c in decision.ranked}
    assert fit["c-roomy"] == W.memory_fit > fit["b-tight"] > 0 > fit["a-evict"]
    assert by_id(decision)["a-evict"].evicts


def test_warn_pressure_is_penalised() -> None:
    fleet = [node("a", pressure="warn"), node("b")]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision) == ["b", "a"]


# --- 3. queue depth ------------------------------------------------------------------------------


def test_saturated_queue_yields_to_the_next_node() -> None:
    # Alone, "a" wins the tie by id; with both slots busy and one waiting it gives way to its twin.
    fleet = [node("a", loaded=hot(), num_parallel=2), node("b", loaded=hot(), num_parallel=2)]
    assert order(rank(fleet, request(), now=NOW)) == ["a", "b"]
    decision = rank(fleet, request(), now=NOW, queues={("a", SMALL): (1, 2)})
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].queue_depth == 3
    # Our request would be first in line for two slots: one full turn to wait, raw -1.
    assert by_id(decision)["a"].breakdown["queue"] == pytest.approx(-W.queue)


def test_a_free_slot_costs_little_and_a_wait_costs_a_lot() -> None:
    fleet = [node("a", loaded=hot(), num_parallel=4)]
    one = rank(fleet, request(), now=NOW, queues={("a", SMALL): (0, 1)}).ranked[0]
    full = rank(fleet, request(), now=NOW, queues={("a", SMALL): (2, 4)}).ranked[0]
    assert -0.3 * W.queue <= one.breakdown["queue"] < 0
    # 4 running + 2 waiting on 4 slots: third in line, 3/4 of a service time to wait.
    assert full.breakdown["queue"] == pytest.approx(-(0.3 + 0.7 * 0.75) * W.queue)
    assert full.breakdown["queue"] < 2 * one.breakdown["queue"] - 0.3 * W.queue


def test_deep_queue_on_a_hot_node_loses_to_a_cold_idle_node() -> None:
    # Waiting behind many requests takes longer than loading the model elsewhere.
    fleet = [node("a", loaded=hot(), num_parallel=1), node("b")]
    decision = rank(fleet, request(), now=NOW, queues={("a", SMALL): (4, 1)})
    assert order(decision) == ["b", "a"]


def test_unknown_num_parallel_is_not_treated_as_one() -> None:
    # Known trap: an agent without OLLAMA_NUM_PARALLEL made the router serialise every model.
    # With one request in flight, the unknown node still has a free slot; the num_parallel=1 one
    # does not.
    fleet = [node("a-known-1", loaded=hot(), num_parallel=1), node("b-unknown", loaded=hot())]
    queues = {("a-known-1", SMALL): (0, 1), ("b-unknown", SMALL): (0, 1)}
    decision = rank(fleet, request(), now=NOW, queues=queues)
    assert order(decision) == ["b-unknown", "a-known-1"]
    unknown = by_id(decision)["b-unknown"]
    assert unknown.parallel >= 2
    assert unknown.breakdown["queue"] > -0.3 * W.queue


def test_effective_parallel_from_memory() -> None:
    assert effective_parallel(node("a", num_parallel=3), 5.0) == 3
    assert effective_parallel(node("a", total=128), 5.0) == 4
    assert effective_parallel(node("a", total=16), 8.0) == 2
    assert effective_parallel(node("a", total=128), 60.0) == 2


# --- 4. latency history --------------------------------------------------------------------------


def test_faster_history_wins() -> None:
    fleet = [node("a", loaded=hot()), node("b", loaded=hot())]
    latency = {("a", SMALL): LatencyStats(20_000), ("b", SMALL): LatencyStats(2_000)}
    decision = rank(fleet, request(), now=NOW, latency=latency)
    assert order(decision) == ["b", "a"]


def test_unknown_history_is_neutral() -> None:
    # A node without history is neither rewarded for being unmeasured nor punished for it: it
    # sits at the mean of the measured ones.
    fleet = [node("a", loaded=hot()), node("b", loaded=hot()), node("c", loaded=hot())]
    latency = {("a", SMALL): LatencyStats(30_000), ("c", SMALL): LatencyStats(3_000)}
    decision = rank(fleet, request(), now=NOW, latency=latency)
    assert order(decision) == ["c", "b", "a"]
    lat = {c.node_id: c.breakdown["latency"] for c in decision.ranked}
    assert lat["b"] == pytest.approx((lat["a"] + lat["c"]) / 2)
    # With no history anywhere the signal is zero for all.
    quiet = rank(fleet, request(), now=NOW)
    assert {c.breakdown["latency"] for c in quiet.ranked} == {0.0}


def test_expected_wait_grows_with_depth() -> None:
    # Same recent p75, but on "a" the request waits a turn: the expected wait doubles.
    fleet = [node("a", loaded=hot(), num_parallel=1), node("b", loaded=hot(), num_parallel=1)]
    latency = {("a", SMALL): LatencyStats(6_000), ("b", SMALL): LatencyStats(6_000)}
    decision = rank(fleet, request(), now=NOW, latency=latency, queues={("a", SMALL): (0, 1)})
    lat = {c.node_id: c.breakdown["latency"] for c in decision.ranked}
    assert lat["a"] == pytest.approx(2 * lat["b"])


# --- 5. role affinity ----------------------------------------------------------------------------


def big_and_small(**big_fields: object) -> list[NodeSnapshot]:
    disk = {SMALL: SMALL_FILE, BIG: BIG_FILE}
    return [
        node("big", total=128, available=110, bandwidth_gbps=800.0, disk=disk, **big_fields),
        node("mid", total=64, available=60, bandwidth_gbps=400.0, disk=disk),
        node("small", total=16, available=12, bandwidth_gbps=100.0, disk=disk),
    ]


def test_big_model_goes_to_the_big_machine() -> None:
    # The 70B fits on both the 128 GB and the 64 GB node; the bigger, faster one should take it.
    decision = rank(big_and_small(), request(BIG), now=NOW)
    assert order(decision) == ["big", "mid"]
    assert decision.rejected["small"].startswith(scoring.TOO_LARGE)
    assert by_id(decision)["big"].breakdown["role"] > by_id(decision)["mid"].breakdown["role"]


def test_small_model_goes_to_the_small_machine_when_both_are_idle() -> None:
    # Keep the big machine free for the work only it can do, when nothing says it is faster.
    fleet = [
        node("big", total=128, available=100, loaded=hot(), num_parallel=1),
        node("small", total=16, available=8, loaded=hot(), num_parallel=1),
    ]
    assert order(rank(fleet, request(), now=NOW)) == ["small", "big"]


def test_without_history_decode_speed_comes_from_memory_bandwidth() -> None:
    # A 5 GB model decodes at ~160 tokens/s on 800 GB/s and ~20 tokens/s on 100 GB/s: eight times
    # slower is worth more than keeping the big machine free while it is idle (a known trap sent
    # small-model traffic to slow devices while the fast one had free slots).
    fleet = [
        node("big", total=128, available=100, bandwidth_gbps=800.0, loaded=hot(), num_parallel=1),
        node("small", total=16, available=8, bandwidth_gbps=100.0, loaded=hot(), num_parallel=1),
    ]
    ranked = by_id(rank(fleet, request(), now=NOW))
    assert order(rank(fleet, request(), now=NOW)) == ["big", "small"]
    assert ranked["small"].breakdown["latency"] < ranked["big"].breakdown["latency"] < 0


def test_small_model_goes_to_the_fast_machine_when_the_small_one_is_saturated() -> None:
    # Known trap: small-model traffic piled onto slow devices while the fast one had free slots.
    fleet = [
        node("big", total=128, available=100, bandwidth_gbps=800.0, loaded=hot(), num_parallel=1),
        node("small", total=16, available=8, bandwidth_gbps=100.0, loaded=hot(), num_parallel=1),
    ]
    decision = rank(fleet, request(), now=NOW, queues={("small", SMALL): (0, 1)})
    assert order(decision) == ["big", "small"]


def test_role_is_symmetric_around_the_middle() -> None:
    # A node halfway between the smallest and largest sits at zero for any model.
    fleet = [node("a", total=128), node("b", total=64), node("c", total=16)]
    decision = rank(fleet, request(), now=NOW)
    assert by_id(decision)["b"].breakdown["role"] == pytest.approx(0.0)


# --- 6. availability trend -----------------------------------------------------------------------


def test_falling_availability_is_penalised() -> None:
    # Same CPU use now, but on "a" it has been climbing: someone started working there.
    fleet = [
        node("a", loaded=hot(), cpu_history=(10.0, 10.0, 50.0, 50.0)),
        node("b", loaded=hot(), cpu_history=(50.0, 50.0, 50.0, 50.0)),
        node("c", loaded=hot(), cpu_history=(90.0, 90.0, 50.0, 50.0)),
    ]
    decision = rank(fleet, request(), now=NOW)
    # Rising load ranks last; load that is going away ranks first.
    assert order(decision) == ["c", "b", "a"]


def test_busy_cpu_and_active_user_are_penalised() -> None:
    fleet = [
        node("a", loaded=hot(), cpu_history=(80.0,)),
        node("b", loaded=hot(), user_active=True),
        node("c", loaded=hot(), cpu_history=(5.0,), user_active=False),
    ]
    decision = rank(fleet, request(), now=NOW)
    assert order(decision)[0] == "c"
    assert by_id(decision)["a"].breakdown["availability"] < 0
    assert by_id(decision)["b"].breakdown["availability"] < 0


# --- 7. context fit ------------------------------------------------------------------------------


def test_loaded_context_too_small_is_penalised() -> None:
    # A 3000-token prompt overflows a 2048 window (Ollama would truncate it); 8192 holds it.
    fleet = [node("a", loaded=hot(ctx=2048)), node("b", loaded=hot(ctx=8192))]
    decision = rank(fleet, request(prompt_tokens=3000), now=NOW)
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["a"].breakdown["context"] == -W.context


def test_larger_num_ctx_than_loaded_means_a_reload() -> None:
    # Asking for 16k on a node loaded with 8k reloads the model: it is no longer really hot.
    fleet = [node("a", loaded=hot(ctx=8192)), node("b", loaded=hot(ctx=16384))]
    decision = rank(fleet, request(num_ctx=16384), now=NOW)
    assert order(decision) == ["b", "a"]
    a = by_id(decision)["a"]
    assert a.needs_load and a.hot
    assert a.breakdown["context"] < 0
    assert a.breakdown["thermal"] < W.thermal


def test_smaller_num_ctx_reloads_only_without_context_protection() -> None:
    fleet = [node("a", loaded=hot(ctx=8192))]
    protected = rank(fleet, request(num_ctx=4096), now=NOW).ranked[0]
    assert not protected.needs_load
    unprotected = rank(fleet, request(num_ctx=4096, context_protection=False), now=NOW)
    assert unprotected.ranked[0].needs_load


def test_cold_load_uses_the_node_default_context() -> None:
    # A node whose default window is 2048 would load the model too small for this prompt.
    fleet = [node("a", default_context_length=2048), node("b", default_context_length=32768)]
    decision = rank(fleet, request(prompt_tokens=3000), now=NOW)
    assert order(decision) == ["b", "a"]


# --- session affinity ----------------------------------------------------------------------------


def test_session_affinity_wins_a_tie() -> None:
    # Twins; by id "a" would win, but "b" holds this conversation's prompt cache.
    fleet = [node("a", loaded=hot(), num_parallel=2), node("b", loaded=hot(), num_parallel=2)]
    decision = rank(fleet, request(session_key="s1"), now=NOW, sessions={"s1": "b"})
    assert order(decision) == ["b", "a"]
    assert by_id(decision)["b"].breakdown["session"] == W.session


def test_session_affinity_does_not_beat_saturation() -> None:
    # The cache is not worth waiting behind a full queue.
    fleet = [node("a", loaded=hot(), num_parallel=2), node("b", loaded=hot(), num_parallel=2)]
    decision = rank(
        fleet,
        request(session_key="s1"),
        now=NOW,
        sessions={"s1": "b"},
        queues={("b", SMALL): (1, 2)},
    )
    assert order(decision) == ["a", "b"]
    assert by_id(decision)["b"].breakdown["session"] == 0.0


def test_session_affinity_needs_the_model_still_loaded() -> None:
    # Once the model was unloaded the cache is gone: no bonus.
    fleet = [node("a"), node("b")]
    decision = rank(fleet, request(session_key="s1"), now=NOW, sessions={"s1": "b"})
    assert by_id(decision)["b"].breakdown["session"] == 0.0


# --- the result ----------------------------------------------------------------------------------


def test_breakdown_has_every_signal_and_sums_to_the_score() -> None:
    fleet = [node("a", loaded=hot(), cpu_history=(20.0, 40.0)), node("b", state="degraded")]
    latency = {("a", SMALL): LatencyStats(4_000, 40.0, 10)}
    decision = rank(fleet, request(session_key="s"), now=NOW, latency=latency, sessions={"s": "a"})
    assert len(decision.ranked) == 2
    for candidate in decision.ranked:
        assert tuple(candidate.breakdown) == SIGNALS
        assert candidate.score == pytest.approx(sum(candidate.breakdown.values()))


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
    queues = {("mid", SMALL): (1, 1)}
    latency = {("big", SMALL): LatencyStats(1_000)}
    sessions = {"s": "mid"}
    before = (dict(queues), dict(latency), dict(sessions), [dataclasses.astuple(n) for n in fleet])
    req = request(session_key="s")
    first = rank(fleet, req, now=NOW, queues=queues, latency=latency, sessions=sessions)
    second = rank(fleet, req, now=NOW, queues=queues, latency=latency, sessions=sessions)
    assert first == second
    after = (dict(queues), dict(latency), dict(sessions), [dataclasses.astuple(n) for n in fleet])
    assert before == after


def test_empty_fleet_gives_no_best() -> None:
    decision = rank([], request(), now=NOW)
    assert decision.ranked == [] and decision.rejected == {} and decision.best is None


def test_weights_change_the_ranking() -> None:
    # With the role weight raised far enough, the idle small node wins even over a saturated twin.
    fleet = [
        node("big", total=128, available=100, bandwidth_gbps=800.0, loaded=hot(), num_parallel=1),
        node("small", total=16, available=8, bandwidth_gbps=100.0, loaded=hot(), num_parallel=1),
    ]
    queues = {("small", SMALL): (0, 1)}
    heavy_role = Weights(role=100.0)
    assert order(rank(fleet, request(), now=NOW, queues=queues, weights=heavy_role))[0] == "small"


# --- snapshots from heartbeats -------------------------------------------------------------------


def heartbeat(**overrides: object) -> Heartbeat:
    data: dict[str, object] = {
        "node_id": "studio",
        "hardware": {"memory_gb": 128, "memory_bandwidth_gbps": 800, "thermal_state": "normal"},
        "cpu": {"cores": 16, "utilization_pct": 12.0},
        "memory": {"total_gb": 128, "used_gb": 40, "available_gb": 88, "pressure": "normal"},
        "disk": {"total_gb": 2000, "used_gb": 500, "free_gb": 1500},
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
    assert rank([second], request(), now=NOW + 6).ranked[0].breakdown["thermal"] == W.thermal / 2
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
        ranked["rush-hour"].breakdown["availability"] < ranked["steady"].breakdown["availability"]
    )
