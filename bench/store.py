"""Benchmark of the trace store: 100k seeded traces, then the median time of every query.

Run from the repository root: ``python -m bench.store`` (``--rows``, ``--runs``, ``--keep``).
Prints a table and writes ``bench/results/store.json``. Uses a temporary directory, never the real
data dir. Figures depend on the machine; the target is every query well under 50 ms at 100k rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from router.store import TraceStore
from router.traces import TraceRecord

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
DAY_S = 86_400
MODELS = {
    "llama3.2:3b": 2.0,
    "qwen2.5:7b": 1.0,
    "llama3.1:70b": 0.3,
    "nomic-embed-text:latest": 0.8,
    "gemma2:9b": 0.6,
    "deepseek-r1:14b": 0.4,
}
NODES = ["mac-studio", "macbook-air", "mini-1", "mini-2", "linux-box"]
TAGS = ["app:chatbot", "app:rag", "app:coder", "team:search", "user:alice", "user:bob"]
STATUSES = (
    ["completed"] * 90
    + ["failed"] * 3
    + ["retried"] * 3
    + ["incomplete"] * 2
    + [
        "client_disconnected",
        "rejected",
    ]
)


def seeded_traces(rows: int, now: float, days: int = 30, seed: int = 7) -> list[TraceRecord]:
    """``rows`` traces spread over the last ``days`` days, deterministic for a seed."""
    rng = random.Random(seed)
    models = list(MODELS)
    weights = list(MODELS.values())
    out = []
    for i in range(rows):
        model = rng.choices(models, weights)[0]
        node = rng.choice(NODES)
        status = rng.choice(STATUSES)
        completion = rng.randint(10, 800) if status == "completed" else None
        eval_ns = int(completion / rng.uniform(10, 90) * 1e9) if completion else None
        latency = rng.lognormvariate(7, 0.8) if status != "rejected" else None
        out.append(
            TraceRecord(
                request_id=f"req-{i:07d}",
                model=model,
                original_model=model,
                node_id=node if status != "rejected" else None,
                status=status,  # type: ignore[arg-type]
                timestamp=now - rng.uniform(0, days * DAY_S),
                score=round(rng.uniform(20, 100), 2),
                scores_breakdown={"thermal": 50.0, "memory": 20.0, "queue": -5.0},
                latency_ms=latency,
                time_to_first_token_ms=latency * 0.2 if latency else None,
                prompt_tokens=rng.randint(5, 2000),
                completion_tokens=completion,
                eval_duration_ns=eval_ns,
                retry_count=1 if rng.random() < 0.03 else 0,
                fallback_used=rng.random() < 0.02,
                cold_load=rng.random() < 0.05,
                context_protected=rng.random() < 0.01,
                reaped=rng.random() < 0.002,
                tags=rng.sample(TAGS, rng.randint(0, 2)),
                client_ip="10.0.0.2",
                error_message="upstream timeout" if status == "failed" else None,
            )
        )
    return out


async def _median_ms(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    await fn()  # warm the cache once, as a running router would be
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


async def run(rows: int, runs: int, keep: Path | None) -> dict[str, Any]:
    now = time.time()
    traces = seeded_traces(rows, now)
    with tempfile.TemporaryDirectory(prefix="herd-bench-store-") as tmp:
        path = (keep or Path(tmp)) / "latency.db"
        store = TraceStore(path, retention_days=31, max_buffer=max(50_000, rows))
        await store.open()
        try:
            report = await _measure(store, traces, now, runs)
        finally:
            await store.close()
        report["db_bytes"] = path.stat().st_size
    return report


async def _measure(
    store: TraceStore, traces: list[TraceRecord], now: float, runs: int
) -> dict[str, Any]:
    rows = len(traces)
    start = time.perf_counter()
    for trace in traces:
        store.record(trace)
    record_s = time.perf_counter() - start
    await store.flush()
    insert_s = time.perf_counter() - start
    stored = await store.count()
    if stored != rows:
        raise RuntimeError(f"rows lost: {stored} of {rows} stored; {store.stats()}")

    day = now - DAY_S
    week = now - 7 * DAY_S
    month = now - 30 * DAY_S
    queries: dict[str, Callable[[], Awaitable[Any]]] = {
        "traces(limit=100)": lambda: store.traces(100),
        "traces(limit=1000)": lambda: store.traces(1000),
        "traces(model=..)": lambda: store.traces(100, model="llama3.1:70b"),
        "traces(node_id=..)": lambda: store.traces(100, node_id="mini-2"),
        "traces(status=failed)": lambda: store.traces(100, status="failed"),
        "traces(tag=..)": lambda: store.traces(100, tag="app:rag"),
        "traces(model+node+since)": lambda: store.traces(
            100, model="gemma2:9b", node_id="mini-1", since=week
        ),
        "usage(30d)": lambda: store.usage(month, now),
        "usage(7d)": lambda: store.usage(week, now),
        "model_stats(24h)": lambda: store.model_stats(day, now),
        "model_stats(7d)": lambda: store.model_stats(week, now),
        "model_stats(30d)": lambda: store.model_stats(month, now),
        "tag_stats(7d)": lambda: store.tag_stats(week, now),
        "tag_stats(30d)": lambda: store.tag_stats(month, now),
        "tag_daily(30d)": lambda: store.tag_daily(month, now),
        "hourly_trends(24h)": lambda: store.hourly_trends(now, 24),
        "hourly_trends(168h)": lambda: store.hourly_trends(now, 168),
        "health_counts(1h)": lambda: store.health_counts(now - 3600, now),
        "health_counts(24h)": lambda: store.health_counts(day, now),
        "node_model_usage(30d)": lambda: store.node_model_usage(month, now),
        "fallback_reasons(24h)": lambda: store.fallback_reasons(day, now),
        "ttft_p50(24h)": lambda: store.ttft_p50(day, now),
        "ttft_p50(7d)": lambda: store.ttft_p50(week, now),
        "recent_runs(24h)": lambda: store.recent_runs(day),
        "prune(nothing to do)": lambda: store.prune(now),
    }
    results = {}
    for name, fn in queries.items():
        median, worst = await _median_ms(fn, runs)
        results[name] = {"median_ms": round(median, 2), "max_ms": round(worst, 2)}
    return {
        "rows": rows,
        "runs": runs,
        "record_us_per_trace": round(record_s / rows * 1e6, 2),
        "insert_rows_per_s": round(rows / insert_s),
        "queries": results,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": platform.machine(),
        "at": round(now),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", type=Path, default=None, help="write the database here")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.rows, args.runs, args.keep))
    print(f"trace store, {report['rows']} rows, median of {report['runs']} runs")
    print(
        f"record(): {report['record_us_per_trace']} us/trace; "
        f"batched insert: {report['insert_rows_per_s']} rows/s; db {report['db_bytes']} bytes"
    )
    width = max(len(name) for name in report["queries"])
    print(f"{'query':<{width}}  {'median ms':>10}  {'max ms':>8}")
    for name, figures in report["queries"].items():
        print(f"{name:<{width}}  {figures['median_ms']:>10.2f}  {figures['max_ms']:>8.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
