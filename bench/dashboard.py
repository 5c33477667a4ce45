"""Every management endpoint over real HTTP, with 100k traces in the router's store.

Seeds a data directory with 100,000 traces over 30 days (the store benchmark's workload), starts
a router on it, registers five nodes by heartbeat, and times each ``/dashboard/api/*`` read
(median and worst of repeated requests, end to end: HTTP, SQL, shaping, JSON). The target is
under 50 ms each. Writes ``bench/results/dashboard.json``. Run: ``python -m bench.dashboard``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.heartbeats import heartbeat
from bench.processes import start_router
from bench.store import NODES, seeded_traces
from router.store import TraceStore

ROWS = 100_000
RUNS = 15
TARGET_MS = 50.0
RESULTS = Path(__file__).parent / "results" / "dashboard.json"
ENDPOINTS = (
    "fleet/status",
    "dashboard/api/traces?limit=100",
    "dashboard/api/traces?limit=100&model=llama3.2:3b",
    "dashboard/api/traces?limit=100&tag=app:rag",
    "dashboard/api/usage?days=7",
    "dashboard/api/usage?days=30",
    "dashboard/api/models?days=7",
    "dashboard/api/apps?days=7",
    "dashboard/api/trends?hours=24",
    "dashboard/api/trends?hours=168",
    "dashboard/api/health",
    "dashboard/api/recommendations",
    "dashboard/api/settings",
    "dashboard/api/model-management",
    "dashboard/api/benchmarks",
)


async def seed(data_dir: Path) -> None:
    store = TraceStore(data_dir / "latency.db", retention_days=31, max_buffer=ROWS)
    await store.open()
    for trace in seeded_traces(ROWS, time.time()):
        store.record(trace)
    await store.close()


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="herd-bench-dashboard-"))
    started = time.perf_counter()
    asyncio.run(seed(data_dir))
    print(f"seeded {ROWS} traces in {time.perf_counter() - started:.1f}s")
    url, router = start_router(
        data_dir, "--degraded-after", "3600", "--offline-after", "7200", "--log-level", "warning"
    )
    rows: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for index, node_id in enumerate(NODES):
                beat = heartbeat(
                    node_id,
                    memory_gb=(16, 32, 64, 128, 192)[index],
                    available_gb=(8, 20, 40, 90, 150)[index],
                    loaded=[("llama3.2:3b", 2.0)],
                    available=[("llama3.2:3b", 2.0), ("qwen2.5:7b", 4.7), ("gemma2:9b", 5.4)],
                )
                client.post("/fleet/heartbeat", json=beat.model_dump(mode="json"))
            for path in ENDPOINTS:
                first = client.get(f"/{path}")
                if first.status_code != 200:
                    raise RuntimeError(f"{path}: {first.status_code} {first.text[:200]}")
                times = []
                for _ in range(RUNS):
                    begun = time.perf_counter()
                    client.get(f"/{path}").raise_for_status()
                    times.append((time.perf_counter() - begun) * 1000)
                rows.append(
                    {
                        "endpoint": path,
                        "median_ms": round(statistics.median(times), 2),
                        "max_ms": round(max(times), 2),
                        "bytes": len(first.content),
                    }
                )
    finally:
        router.stop()
    print(f"\nManagement endpoints over HTTP with {ROWS} traces (median of {RUNS})")
    print(f"{'endpoint':<52} {'median ms':>9} {'max ms':>8} {'bytes':>8}")
    for row in rows:
        flag = "" if row["median_ms"] < TARGET_MS else "  MISSED"
        print(
            f"{row['endpoint']:<52} {row['median_ms']:>9.2f} {row['max_ms']:>8.2f} "
            f"{row['bytes']:>8}{flag}"
        )
    met = all(r["median_ms"] < TARGET_MS for r in rows)
    print(f"  {'met   ' if met else 'MISSED'} every endpoint under {TARGET_MS:g} ms (median)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": ROWS, "endpoints": rows, "target_met": met}, indent=2))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
