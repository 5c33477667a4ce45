"""The simulator's physics on a virtual clock: nothing here waits for real time."""

from __future__ import annotations

import asyncio

import pytest

from node.sim.catalogue import CATALOGUE, PROFILES
from node.sim.engine import (
    BadRequest,
    Engine,
    InsufficientMemory,
    ModelNotFound,
    ServerBusy,
    SimConfig,
    parse_keep_alive,
)

SMALL, TINY, MID = "llama3.2:3b", "llama3.2:1b", "llama3.1:8b"


class VirtualTime:
    """A clock that only moves when someone sleeps (or a test moves it)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def make(vt: VirtualTime, **overrides: object) -> Engine:
    settings: dict[str, object] = {"profile": "laptop", "models": [SMALL, TINY, MID]}
    settings.update(overrides)
    return Engine(SimConfig(**settings), clock=vt.clock, sleeper=vt.sleep)  # type: ignore[arg-type]


async def generate(engine: Engine, model: str, tokens: int = 5, **kwargs: object) -> None:
    async with engine.slot(model, **kwargs) as slot:  # type: ignore[arg-type]
        await slot.prompt_eval(10)
        for _ in range(tokens):
            await slot.decode()


async def until(predicate, what: str = "") -> None:  # type: ignore[no-untyped-def]
    """Yield to the loop until ``predicate()`` holds (bounded)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def hold_slot(engine: Engine) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Start a request that holds one slot of SMALL until the returned event is set; return once
    it holds the slot."""
    release = asyncio.Event()

    async def hold() -> None:
        async with engine.slot(SMALL):
            await release.wait()

    holder = asyncio.create_task(hold())
    await until(lambda: SMALL in engine.loaded and engine.loaded[SMALL].in_flight == 1, "held")
    return release, holder


async def test_one_parallel_slot_never_runs_two_at_once_and_serves_fifo() -> None:
    vt = VirtualTime()
    engine = make(vt, num_parallel=1)
    order: list[int] = []
    active = 0
    peak = 0

    async def one(i: int) -> None:
        nonlocal active, peak
        async with engine.slot(SMALL) as slot:
            order.append(i)
            active += 1
            peak = max(peak, active)
            for _ in range(3):
                await slot.decode()
            active -= 1

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert peak == 1
    assert engine.counters.max_concurrent_seen[SMALL] == 1
    assert order == [0, 1, 2, 3, 4]
    assert engine.counters.loads == {SMALL: 1}


async def test_parallel_slots_allow_that_many_at_once() -> None:
    vt = VirtualTime()
    engine = make(vt, num_parallel=3)
    await asyncio.gather(*(generate(engine, SMALL, tokens=4) for _ in range(6)))
    assert engine.counters.max_concurrent_seen[SMALL] == 3


async def test_an_idle_model_is_evicted_in_ollamas_order_not_by_recent_use() -> None:
    # Ollama unloads the idle runner with the shortest keep-alive, then the first by the path of
    # its weights blob: which of two equally kept models goes does not depend on recent use.
    first, second = sorted((SMALL, TINY), key=lambda name: CATALOGUE[name].blob_file)
    vt = VirtualTime()
    engine = make(vt, memory_gb=8, num_parallel=1)
    await generate(engine, second)
    await generate(engine, first)
    vt.now += 1
    await generate(engine, first)  # the most recently used, and still the first to go
    await generate(engine, MID)
    assert {m.spec.name for m in engine.loaded_models()} == {second, MID}
    assert engine.counters.evictions == 1
    assert [(u["name"], u["reason"]) for u in engine.counters.unloaded] == [(first, "evicted")]
    assert engine.memory_used <= engine.memory_total


async def test_the_shortest_keep_alive_is_evicted_first_and_forever_last() -> None:
    first, second = sorted((SMALL, TINY), key=lambda name: CATALOGUE[name].blob_file)
    vt = VirtualTime()
    engine = make(vt, memory_gb=8, num_parallel=1)
    await generate(engine, first, keep_alive=None)  # kept forever: last in line
    await generate(engine, second, keep_alive=3600.0)
    await generate(engine, MID)
    assert [(u["name"], u["reason"]) for u in engine.counters.unloaded] == [(second, "evicted")]


async def test_a_busy_model_is_never_evicted_the_load_waits_for_it() -> None:
    vt = VirtualTime()
    engine = make(vt, memory_gb=6, num_parallel=1)
    await generate(engine, TINY)
    release, holder = await hold_slot(engine)
    waiting = asyncio.create_task(generate(engine, MID))
    await until(lambda: engine.queued().get(MID) == 1, "MID queued")
    # the idle model went; the busy one stayed and MID waits for it
    assert set(engine.loaded) == {SMALL}
    assert engine.loaded[SMALL].in_flight == 1
    release.set()
    await asyncio.gather(holder, waiting)
    assert set(engine.loaded) == {MID}
    assert engine.counters.evictions == 2


async def test_a_request_waiting_for_memory_holds_up_every_request_behind_it() -> None:
    """Ollama's scheduler takes one request at a time ("Block other requests until we get this
    pending request running"): while one waits for busy models, later requests wait too, even
    for a loaded model with a free slot or a model that would fit."""
    vt = VirtualTime()
    engine = make(vt, memory_gb=6, num_parallel=2)
    release, holder = await hold_slot(engine)  # SMALL busy; one of its two slots free
    started: list[str] = []

    async def run(model: str) -> None:
        async with engine.slot(model) as slot:
            started.append(model)
            await slot.decode()

    blocked = asyncio.create_task(run(MID))
    await until(lambda: engine.queued().get(MID) == 1, "MID waits for SMALL's memory")
    behind = [asyncio.create_task(run(SMALL)), asyncio.create_task(run(TINY))]
    await until(lambda: engine.queued() == {MID: 1, SMALL: 1, TINY: 1}, "both behind MID")
    assert engine.loaded[SMALL].in_flight == 1  # the free slot is not handed out
    assert TINY not in engine.loaded  # it would fit beside SMALL, yet does not load
    release.set()
    await asyncio.gather(holder, blocked, *behind)
    assert started[0] == MID
    assert sorted(started) == sorted([MID, SMALL, TINY])


async def test_a_request_ahead_of_one_waiting_for_memory_is_served() -> None:
    vt = VirtualTime()
    engine = make(vt, memory_gb=6, num_parallel=1)
    release, holder = await hold_slot(engine)
    ahead = asyncio.create_task(generate(engine, SMALL))  # waits for SMALL's slot, not memory
    await until(lambda: engine.queued().get(SMALL) == 1, "queued for the slot")
    blocked = asyncio.create_task(generate(engine, MID))
    await until(lambda: engine.queued().get(MID) == 1, "MID waits")
    release.set()
    await asyncio.gather(holder, ahead, blocked)
    # SMALL's second request ran before MID could evict SMALL: loaded once, evicted once
    assert engine.counters.loads == {SMALL: 1, MID: 1}
    assert set(engine.loaded) == {MID}


async def test_without_memory_wait_a_blocked_load_fails_like_ollama() -> None:
    vt = VirtualTime()
    engine = make(vt, memory_gb=6, num_parallel=1, memory_wait=False)
    release, holder = await hold_slot(engine)
    with pytest.raises(InsufficientMemory, match="model requires more system memory"):
        await generate(engine, MID)
    assert set(engine.loaded) == {SMALL}
    release.set()
    await holder


async def test_a_model_larger_than_memory_fails_at_once() -> None:
    vt = VirtualTime()
    engine = make(vt, models=["llama3.3:70b"])
    with pytest.raises(InsufficientMemory) as caught:
        await generate(engine, "llama3.3:70b")
    assert "than is available (32.0 GiB)" in caught.value.message
    assert caught.value.status == 500
    assert engine.loaded == {}


async def test_max_loaded_models_bounds_the_loaded_set() -> None:
    vt = VirtualTime()
    engine = make(vt, max_loaded_models=1)
    await generate(engine, SMALL)
    await generate(engine, TINY)
    assert set(engine.loaded) == {TINY}
    assert engine.counters.evictions == 1


async def test_cold_load_time_is_proportional_to_size() -> None:
    vt = VirtualTime()
    engine = make(vt)
    profile = PROFILES["laptop"]
    durations = {}
    for name in (TINY, MID):
        before = vt.now
        slot = await engine.load(name)
        assert slot.cold_load
        durations[name] = slot.load_seconds
        assert vt.now - before == pytest.approx(slot.load_seconds)
    start = profile.runner_start_s  # the runner process starts before any weight is read
    ratio = (durations[MID] - start) / (durations[TINY] - start)
    assert ratio == pytest.approx(CATALOGUE[MID].size / CATALOGUE[TINY].size)
    assert durations[MID] == pytest.approx(start + CATALOGUE[MID].size / (profile.load_gbps * 1e9))
    warm = await engine.load(MID)
    assert not warm.cold_load and warm.load_seconds == 0
    assert engine.counters.loads == {TINY: 1, MID: 1}


async def test_time_scale_zero_never_sleeps() -> None:
    slept: list[float] = []

    async def sleeper(seconds: float) -> None:
        slept.append(seconds)

    engine = Engine(SimConfig(models=[SMALL], time_scale=0), sleeper=sleeper)
    await generate(engine, SMALL, tokens=20)
    assert slept == []


async def test_a_different_num_ctx_forces_a_counted_reload() -> None:
    vt = VirtualTime()
    engine = make(vt)
    await generate(engine, SMALL)
    await generate(engine, SMALL, num_ctx=4096)  # same as the default: no reload
    assert engine.counters.reloads == {}
    await generate(engine, SMALL, num_ctx=8192)
    assert engine.loaded[SMALL].context_length == 8192
    await generate(engine, SMALL)  # back to the default context: another reload
    assert engine.counters.reloads == {SMALL: 2}
    assert engine.counters.loads == {SMALL: 1}
    assert engine.loaded[SMALL].context_length == 4096


async def test_num_ctx_is_capped_at_the_model_limit() -> None:
    vt = VirtualTime()
    engine = make(vt, models=["mxbai-embed-large"])
    await generate(engine, "mxbai-embed-large", num_ctx=100_000)
    assert engine.loaded["mxbai-embed-large:latest"].context_length == 512


async def test_keep_alive_expiry_and_default() -> None:
    vt = VirtualTime()
    engine = make(vt)
    await generate(engine, SMALL, keep_alive=10.0)
    await generate(engine, TINY)  # server default: 5 minutes
    vt.now += 11
    assert [m.spec.name for m in engine.loaded_models()] == [TINY]
    assert engine.counters.unloaded[-1]["reason"] == "expired"
    vt.now += 300
    assert engine.loaded_models() == []


async def test_keep_alive_zero_unloads_after_the_request_and_negative_keeps_forever() -> None:
    vt = VirtualTime()
    engine = make(vt)
    await generate(engine, SMALL, keep_alive=0.0)
    assert SMALL not in engine.loaded
    assert engine.counters.unloaded[-1]["reason"] == "keep_alive_0"
    await generate(engine, TINY, keep_alive=None)
    vt.now += 10**7
    assert [m.spec.name for m in engine.loaded_models()] == [TINY]


async def test_unload_request_waits_for_in_flight_work() -> None:
    vt = VirtualTime()
    engine = make(vt)
    release, task = await hold_slot(engine)
    engine.request_unload(SMALL)
    assert SMALL in engine.loaded
    release.set()
    await task
    assert SMALL not in engine.loaded


async def test_a_full_queue_answers_server_busy() -> None:
    vt = VirtualTime()
    engine = make(vt, num_parallel=1, max_queue=2)
    release, holder = await hold_slot(engine)
    queued = [asyncio.create_task(generate(engine, SMALL)) for _ in range(2)]
    await until(lambda: engine.queued().get(SMALL) == 2)
    with pytest.raises(ServerBusy) as caught:
        await generate(engine, SMALL)
    assert caught.value.status == 503
    assert "maximum pending requests exceeded" in caught.value.message
    release.set()
    await asyncio.gather(holder, *queued)


async def test_a_cancelled_waiter_leaves_the_queue_and_frees_nothing_it_did_not_hold() -> None:
    vt = VirtualTime()
    engine = make(vt, num_parallel=1)
    release, holder = await hold_slot(engine)
    waiter = asyncio.create_task(generate(engine, SMALL))
    await until(lambda: engine.queued().get(SMALL) == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert engine.queued() == {}
    assert engine.loaded[SMALL].in_flight == 1
    release.set()
    await holder
    assert engine.loaded[SMALL].in_flight == 0


async def test_unknown_models_and_bad_options_are_typed_errors() -> None:
    engine = make(VirtualTime())
    with pytest.raises(ModelNotFound, match='model "nope" not found, try pulling it first'):
        await generate(engine, "nope")
    with pytest.raises(BadRequest):
        await generate(engine, SMALL, num_ctx="lots")


def test_runtime_reconfiguration_changes_the_knobs() -> None:
    engine = make(VirtualTime())
    engine.reconfigure(num_parallel=7, time_scale=0.5)
    assert engine.num_parallel == 7 and engine.config.time_scale == 0.5
    with pytest.raises(BadRequest):
        engine.reconfigure(profile="mini")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 300.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("45s", 45.0),
        ("500ms", 0.5),
        (30, 30.0),
        ("30", 30.0),
        (0, 0.0),
        ("0", 0.0),
        (-1, None),
        ("-1m", None),
    ],
)
def test_keep_alive_parsing(value: object, expected: float | None) -> None:
    assert parse_keep_alive(value, 300.0) == expected


@pytest.mark.parametrize("value", ["soon", "10x", True, [1]])
def test_keep_alive_parsing_refuses_nonsense(value: object) -> None:
    with pytest.raises(BadRequest):
        parse_keep_alive(value, 300.0)


def test_every_profile_lists_catalogue_models_and_derives_sane_speeds() -> None:
    for profile in PROFILES.values():
        for name in profile.models:
            spec = CATALOGUE[name]
            assert 0 < profile.decode_tps(spec) <= profile.max_tps
            assert profile.prompt_tps(spec) > profile.decode_tps(spec)
    big = CATALOGUE["llama3.3:70b"]
    assert PROFILES["workstation"].decode_tps(big) < PROFILES["workstation"].decode_tps(
        CATALOGUE[MID]
    )
    assert big.loaded_size(4096, 1) < PROFILES["workstation"].memory_gb * 1024**3


async def test_prompt_cache_finds_the_longest_known_prefix_and_is_bounded() -> None:
    vt = VirtualTime()
    engine = make(vt)
    slot = await engine.load(SMALL)
    model = slot.model
    model.remember("a", 10)
    model.remember("ab", 25)
    assert model.cached_tokens([("a", 10), ("ab", 25), ("abc", 40)]) == 25
    assert model.cached_tokens([("x", 5)]) == 0
    for i in range(500):
        model.remember(f"k{i}", i)
    assert len(model.prompt_cache) <= 64
    await generate(engine, SMALL, num_ctx=8192)  # a reload starts with an empty cache
    assert engine.loaded[SMALL].prompt_cache == {}
