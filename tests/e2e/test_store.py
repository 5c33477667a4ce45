"""The trace store on a real SQLite file: schema, batched writes, retention, every query."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from router import measures
from router.store import TRACE_COLUMNS, TraceStore
from router.store.schema import MIGRATIONS, SCHEMA_VERSION
from router.traces import TraceRecord

DAY = 86_400
NOW = 1_700_000_000.0 + 0.37 * DAY  # mid-day, mid-hour: windows have partial edges
KEEP = 3650
"""Retention for stores opened here: ``open()`` prunes against the real clock, NOW is fixed."""


async def until(predicate: Callable[[], object], what: str, timeout_s: float = 10.0) -> None:
    """Bounded async poll of an observable condition (the event loop keeps running)."""
    for _ in range(int(timeout_s / 0.01)):
        if await predicate() if asyncio.iscoroutinefunction(predicate) else predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(what)


def trace(i: int, **kw: object) -> TraceRecord:
    base: dict[str, object] = dict(
        request_id=f"r{i}",
        model="llama3:latest",
        original_model="llama3:latest",
        node_id="alpha",
        status="completed",
        timestamp=NOW - i,
        latency_ms=100.0 + i,
        time_to_first_token_ms=10.0 + i,
        prompt_tokens=10,
        completion_tokens=20,
        eval_duration_ns=1_000_000_000,
    )
    base.update(kw)
    return TraceRecord(**base)  # type: ignore[arg-type]


def seeded(n: int, seed: int = 11, span_s: float = 5 * DAY) -> list[TraceRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        status = rng.choice(
            ["completed"] * 6 + ["failed", "retried", "incomplete", "client_disconnected"]
        )
        out.append(
            trace(
                i,
                model=rng.choice(["a:1b", "b:7b", "c:70b"]),
                node_id=rng.choice(["n1", "n2", None]),
                status=status,
                timestamp=NOW - rng.uniform(0, span_s),
                latency_ms=rng.choice([None, rng.uniform(5, 5000)]),
                time_to_first_token_ms=rng.choice([None, rng.uniform(1, 500)]),
                prompt_tokens=rng.choice([None, rng.randint(1, 100)]),
                completion_tokens=rng.choice([None, 0, rng.randint(1, 300)]),
                eval_duration_ns=rng.choice([None, rng.randint(1, 10**10)]),
                retry_count=rng.choice([0, 0, 1]),
                fallback_used=rng.random() < 0.2,
                cold_load=rng.random() < 0.2,
                tags=rng.sample(["app:x", "app:y", "user:z"], rng.randint(0, 2)),
            )
        )
    return out


@pytest.fixture
async def store(tmp_path: Path):
    s = TraceStore(tmp_path / "data" / "latency.db", retention_days=KEEP)
    await s.open()
    yield s
    await s.close()


async def test_schema_is_created_in_wal_mode_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "latency.db"
    for _ in range(2):  # reopening must not fail or migrate twice
        s = TraceStore(path)
        await s.open()
        await s.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = db.execute("SELECT version FROM schema_version").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        columns = {row[1] for row in db.execute("PRAGMA table_info(request_traces)")}
        assert {f.name for f in dataclasses.fields(TraceRecord)} <= columns
        assert set(TRACE_COLUMNS) <= columns
        indexes = {row[1] for row in db.execute("PRAGMA index_list(request_traces)")}
        assert {"ix_traces_timestamp", "ix_traces_model_ts", "ix_traces_node_ts"} <= indexes
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"trace_tags", "benchmark_runs", "trace_rollup", "latency_hist"} <= tables
    finally:
        db.close()


async def test_a_version_1_database_gains_the_candidates_column(tmp_path: Path) -> None:
    path = tmp_path / "latency.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for statement in MIGRATIONS[1]:
        db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1, 0)")
    db.execute(
        "INSERT INTO request_traces (request_id, model, original_model, status, timestamp) "
        "VALUES ('old', 'm', 'm', 'completed', ?)",
        (time.time(),),
    )
    db.commit()
    db.close()
    s = TraceStore(path)
    await s.open()
    try:
        rows = await s.traces(limit=5)
    finally:
        await s.close()
    assert [(r["request_id"], r["candidates"]) for r in rows] == [("old", [])]


async def test_concurrent_records_are_all_written(store: TraceStore) -> None:
    async def producer(k: int) -> None:
        for j in range(40):
            store.record(trace(k * 1000 + j, tags=[f"app:{k % 3}"]))
            if j % 7 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(*(producer(k) for k in range(50)))
    await store.flush()
    assert await store.count() == 2000
    assert store.stats()["written"] == 2000 and store.dropped == 0
    assert (
        len(await store.traces(1000, tag="app:1")) == sum(1 for k in range(50) if k % 3 == 1) * 40
    )


async def test_background_writer_flushes_without_being_asked(store: TraceStore) -> None:
    store.record(trace(1))

    async def written() -> bool:
        return await store.count() == 1

    await until(written, "the background writer to store the trace")


async def test_close_flushes_and_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "latency.db"
    s = TraceStore(path, retention_days=KEEP, flush_interval_s=60)
    await s.open()
    for i in range(300):
        s.record(trace(i, tags=["app:x"]))
    await s.close()
    again = TraceStore(path, retention_days=KEEP)
    await again.open()
    try:
        assert await again.count() == 300
        rows = await again.traces(5, tag="app:x")
        assert [r["request_id"] for r in rows] == ["r0", "r1", "r2", "r3", "r4"]
    finally:
        await again.close()


async def test_traces_filters_newest_first_and_decoded(store: TraceStore) -> None:
    store.record(trace(3, node_id="beta", status="failed", error_message="boom", tags=["app:x"]))
    store.record(trace(2, model="qwen:7b", scores_breakdown={"thermal": 40.0}, fallback_used=True))
    store.record(trace(1, tags=["app:x", "user:z"]))
    store.record(trace(50, tags=["app:x"]))
    await store.flush()
    rows = await store.traces(10)
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r3", "r50"]
    assert rows[1]["scores_breakdown"] == {"thermal": 40.0} and rows[1]["fallback_used"] is True
    assert rows[0]["tags"] == ["app:x", "user:z"] and rows[0]["stream"] is True
    assert [r["request_id"] for r in await store.traces(10, model="qwen:7b")] == ["r2"]
    assert [r["request_id"] for r in await store.traces(10, node_id="beta")] == ["r3"]
    assert [r["error_message"] for r in await store.traces(10, status="failed")] == ["boom"]
    assert [r["request_id"] for r in await store.traces(10, tag="app:x")] == ["r1", "r3", "r50"]
    assert [r["request_id"] for r in await store.traces(10, tag="app:x", since=NOW - 10)] == [
        "r1",
        "r3",
    ]
    assert [r["request_id"] for r in await store.traces(10, since=NOW - 2.5)] == ["r1", "r2"]
    assert len(await store.traces(2)) == 2
    assert await store.traces(10, tag="nobody") == []


async def test_prune_removes_only_old_rows(store: TraceStore) -> None:
    store.record(trace(1, timestamp=NOW - 40 * DAY, tags=["app:old"]))
    store.record(trace(2, timestamp=NOW - 20 * DAY, tags=["app:mid"]))
    store.record(trace(3, timestamp=NOW - 1, tags=["app:new"]))
    await store.flush()
    store.set_retention_days(30)
    assert await store.prune(NOW) == 1
    assert {r["request_id"] for r in await store.traces(10)} == {"r2", "r3"}
    assert await store.traces(10, tag="app:old") == []
    assert (await store.usage(NOW - 60 * DAY, NOW))["totals"]["requests"] == 2
    store.set_retention_days(7)
    assert await store.prune(NOW) == 1
    assert [r["request_id"] for r in await store.traces(10)] == ["r3"]
    assert [s["tag"] for s in await store.tag_stats(NOW - 60 * DAY, NOW)] == ["app:new"]
    with pytest.raises(ValueError):
        store.set_retention_days(0)


def naive(records: list[TraceRecord], since: float, end: float) -> dict[str, float]:
    total = dict.fromkeys(measures.COUNTER_FIELDS, 0.0)
    for r in records:
        if since <= r.timestamp < end:
            values = measures.trace_counters(
                r.status,
                r.prompt_tokens,
                r.completion_tokens,
                r.latency_ms,
                r.time_to_first_token_ms,
                r.retry_count,
                r.fallback_used,
                r.cold_load,
                r.eval_duration_ns,
            )
            for k, v in zip(measures.COUNTER_FIELDS, values, strict=True):
                total[k] += v
    return total


async def test_aggregates_match_a_naive_count_for_any_window(store: TraceStore) -> None:
    records = seeded(3000)
    for r in records:
        store.record(r)
    await store.flush()
    rng = random.Random(5)
    windows = [(NOW - 5 * DAY, NOW + 1), (NOW - 3 * DAY - 1234.5, NOW - 3600.25)]
    windows += [
        (a, a + rng.uniform(10, 3 * DAY)) for a in (NOW - rng.uniform(0, 5 * DAY) for _ in range(4))
    ]
    for since, end in windows:
        want = naive(records, since, end)
        usage = await store.usage(since, end)
        assert usage["totals"]["requests"] == want["requests"]
        assert usage["totals"]["errors"] == want["errors"]
        assert usage["totals"]["prompt_tokens"] == want["prompt_tokens"]
        assert sum(d["requests"] for d in usage["by_day"]) == want["requests"]
        per_pair = await store.node_model_usage(since, end)
        assert sum(r["requests"] for r in per_pair) == want["requests"]
        in_window = [r for r in records if since <= r.timestamp < end]
        if in_window:
            assert max(r["last_used"] for r in per_pair) == pytest.approx(
                max(r.timestamp for r in in_window)
            )
        models = await store.model_stats(since, end)
        assert sum(m["requests"] for m in models) == want["requests"]
        assert sum(m["retries"] for m in models) == want["retries"]
        assert sum(m["cold_loads"] for m in models) == want["cold_loads"]
        for m in models:
            mine = [
                r.latency_ms
                for r in in_window
                if r.model == m["model"] and r.status == "completed" and r.latency_ms is not None
            ]
            exact = measures.percentiles(mine)
            for key in ("p50", "p95", "p99"):
                if m["percentiles_exact"]:
                    assert m["latency_ms"][key] == pytest.approx(exact[key], abs=0.01)
                else:
                    assert m["latency_ms"][key] == pytest.approx(exact[key], rel=0.03)
        for tag_row in await store.tag_stats(since, end):
            tagged = [r for r in in_window if tag_row["tag"] in r.tags]
            assert tag_row["requests"] == sum(r.status != "retried" for r in tagged)
        health = await store.health_counts(since, end)
        assert health["requests"] == want["requests"] and health["retries"] == want["retries"]
        assert health["cold_loads"] == want["cold_loads"]


async def test_model_stats_percentiles_and_speed(store: TraceStore) -> None:
    for i in range(1, 11):
        store.record(
            trace(i, latency_ms=float(i * 100), time_to_first_token_ms=float(i), node_id="n1")
        )
    store.record(trace(11, status="failed", latency_ms=99_999.0))
    await store.flush()
    [m] = await store.model_stats(NOW - 3600, NOW + 1)
    assert m["latency_ms"] == {"p50": 500.0, "p95": 1000.0, "p99": 1000.0, "avg": 550.0}
    assert m["ttft_ms"]["p50"] == 5.0
    assert (m["requests"], m["completed"], m["errors"], m["error_rate"]) == (11, 10, 1, 0.0909)
    node = {n["node_id"]: n for n in m["nodes"]}["n1"]
    assert node["tokens_per_s"] == 20.0
    assert await store.ttft_p50(NOW - 3600, NOW + 1) == 5.0


async def test_health_counts_fallbacks_and_trends(store: TraceStore) -> None:
    store.record(trace(1, status="failed", error_message="upstream Timeout after 600s"))
    store.record(trace(2, status="retried", retry_count=0))
    store.record(trace(3, retry_count=1, fallback_used=True, fallback_reason="vram_fallback"))
    store.record(trace(4, status="client_disconnected", reaped=True))
    store.record(trace(5, status="incomplete", cold_load=True, node_id="beta"))
    store.record(trace(6, context_protected=True, cold_load=True, node_id="beta"))
    store.record(trace(7, fallback_used=True))
    store.record(trace(8, timestamp=NOW - 2 * 3600))  # outside the hour window
    await store.flush()
    h = await store.health_counts(NOW - 3600, NOW + 1)
    assert h["attempts"] == 7 and h["requests"] == 6
    assert h["errors"] == 2 and h["error_rate"] == 0.3333
    assert (h["timeouts"], h["retries"], h["fallbacks"]) == (1, 1, 2)
    assert (h["reaped"], h["context_protected"], h["client_disconnects"]) == (1, 1, 1)
    assert h["cold_loads_by"] == [{"node_id": "beta", "model": "llama3:latest", "count": 2}]
    assert await store.fallback_reasons(NOW - 3600, NOW + 1) == {
        "vram_fallback": 1,
        "unspecified": 1,
    }
    trends = await store.hourly_trends(NOW, hours=3)
    assert [b["requests"] for b in trends["buckets"]] == [1, 0, 6]
    daily = await store.tag_daily(NOW - 2 * DAY, NOW + 1)
    assert daily["series"] == {} and len(daily["days"]) == 3


async def test_recent_runs_seed_rows(store: TraceStore) -> None:
    store.record(trace(1, eval_duration_ns=2_000_000_000, load_duration_ns=3_000_000_000))
    store.record(trace(2, status="failed"))
    store.record(trace(3, node_id=None))
    store.record(trace(400))
    await store.flush()
    rows = await store.recent_runs(since=NOW - 100)
    assert rows == [("alpha", "llama3:latest", 20, 2_000_000_000, 3_000_000_000)]
    assert rows[0].eval_duration_ns == 2_000_000_000


async def test_recent_jobs_seed_the_backend_job_times(store: TraceStore) -> None:
    store.record(trace(1, kind="image", model="flux-dev:latest", latency_ms=12_000.0))
    store.record(trace(2, kind="transcribe", model="whisper-1:latest", latency_ms=3_000.0))
    store.record(trace(3, kind="image", model="flux-dev:latest", status="failed"))
    store.record(trace(4))  # a chat answer: Ollama's durations seed those
    await store.flush()
    assert await store.recent_jobs(since=NOW - 100) == [
        ("alpha", "whisper-1:latest", 3.0),
        ("alpha", "flux-dev:latest", 12.0),
    ]


async def test_benchmark_runs(store: TraceStore) -> None:
    first = await store.save_benchmark_run(started_at=NOW, status="running", params={"c": 2})
    second = await store.save_benchmark_run(started_at=NOW + 5, status="running")
    assert (
        await store.save_benchmark_run(
            started_at=NOW,
            status="completed",
            params={"c": 2},
            results={"rps": 3.5},
            finished_at=NOW + 60,
            run_id=first,
        )
        == first
    )
    run = await store.get_benchmark_run(first)
    assert run == {
        "id": first,
        "started_at": NOW,
        "finished_at": NOW + 60,
        "status": "completed",
        "params": {"c": 2},
        "results": {"rps": 3.5},
    }
    assert [r["id"] for r in await store.list_benchmark_runs(10)] == [second, first]
    assert await store.get_benchmark_run(999) is None
    with pytest.raises(KeyError):
        await store.save_benchmark_run(started_at=NOW, status="x", run_id=999)


async def test_write_error_is_counted_not_raised(tmp_path: Path) -> None:
    s = TraceStore(tmp_path / "latency.db", flush_interval_s=60)
    await s.open()
    try:
        await s.db.writer().close()  # the database goes away underneath the writer
        s.record(trace(1))
        s.record(trace(2))
        await s.flush()  # must not raise
        stats = s.stats()
        assert stats["write_errors"] == 2  # the first try and the one retry
        assert stats["dropped_errors"] == 2 and s.dropped == 2
        assert stats["last_error"]
        s.record(trace(3))  # still accepts traces
        assert s.stats()["buffered"] == 1
    finally:
        await s.close()


async def test_buffer_overflow_is_counted(tmp_path: Path) -> None:
    s = TraceStore(tmp_path / "latency.db", batch_size=4, max_buffer=8, flush_interval_s=60)
    await s.open()
    try:
        for i in range(12):  # no await in between: the writer cannot run
            s.record(trace(i))
        assert s.stats()["dropped_overflow"] == 4
        await s.flush()
        assert await s.count() == 8
    finally:
        await s.close()
