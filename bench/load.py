"""The router under load: 500 nodes heartbeating and 1,000 concurrent streams.

``SIMS`` simulators (time scale 0, ``num_parallel`` 4096 and the memory their KV caches need,
every chunk 250 ms after the last, so the streams overlap) stand in for the nodes' Ollamas. 500
synthetic nodes spread over them, each with the model loaded and 4 slots, heartbeat every 5 s
(100 heartbeats/s) from a process of their own (``bench.load_heartbeats``).

Measured: the router's CPU per heartbeat and its RSS with 500 nodes; then 1,000 streams opened at
once while the heartbeats go on: how many ended with their ``done`` line, time to first token and
to the last one (p50 / p99), the router's CPU per stream and peak RSS, circuit breakers open
afterwards; and, in process, one ranking decision over 50 and over 500 nodes. Prints a table and
writes ``bench/results/load.json``. Run: ``python -m bench.load`` (opt-in, not in ``make bench``;
``HERD_LOAD_NODES``, ``HERD_LOAD_STREAMS``, ``HERD_LOAD_SIMS`` vary it).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.heartbeats import heartbeat
from bench.httpload import Connection, Result
from bench.load_heartbeats import MODEL
from bench.processes import Proc, free_port, python_module, start_router, wait_http_ok
from router.config import load_settings
from router.parts import build_parts
from router.pipeline.request import InferenceRequest

NODES = int(os.environ.get("HERD_LOAD_NODES", "500"))
STREAMS = int(os.environ.get("HERD_LOAD_STREAMS", "1000"))
SIMS = int(os.environ.get("HERD_LOAD_SIMS", "1"))
HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_WINDOW_S = 10.0
STREAMS_TIMEOUT_S = 300.0
CHUNK_DELAY_S = 0.25
TOKENS = 8
RESULTS = Path(__file__).parent / "results" / "load.json"


def start_sim() -> tuple[str, Proc]:
    port = free_port()
    proc = Proc(
        python_module(
            "node.sim",
            *("--port", str(port), "--profile", "workstation", "--time-scale", "0"),
            *("--num-parallel", "4096", "--max-queue", "8192", "--memory-gb", "4096"),
        ),
        name="sim",
    )
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/api/version", proc)
    fault = {"kind": "slow", "delay_s": 0, "chunk_delay_s": CHUNK_DELAY_S, "count": -1}
    httpx.post(f"{url}/_sim/faults", json=fault).raise_for_status()
    return url, proc


class HeartbeatFeed:
    """The synthetic agents' process and its running totals (sent, failed, worst lateness)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.sent = 0
        self.failed = 0
        self.worst_late_ms = 0.0
        self.reader: asyncio.Future[None] | None = None

    @classmethod
    async def start(cls, router_url: str, sim_urls: list[str]) -> HeartbeatFeed:
        args = ["bench.load_heartbeats", router_url, str(NODES), str(HEARTBEAT_INTERVAL_S)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", *args, *sim_urls, stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode().strip()
        if first != "ready":
            proc.kill()
            raise RuntimeError(f"heartbeats: {first or 'exited'}")
        feed = cls(proc)
        await feed._read_one()  # the totals include the registrations from here on
        feed.reader = asyncio.ensure_future(feed._follow())
        return feed

    async def _read_one(self) -> bool:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            return False
        sent, failed, late_ms = line.split()
        self.sent, self.failed = int(sent), int(failed)
        self.worst_late_ms = max(self.worst_late_ms, float(late_ms))
        return True

    async def _follow(self) -> None:
        while await self._read_one():
            pass

    async def stop(self) -> None:
        self.proc.kill()
        await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()


def cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def one_stream(port: int, body: bytes) -> Result | None:
    connection = Connection("127.0.0.1", port)
    try:
        return await connection.post("/api/chat", body, keep_body=True)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        return None
    finally:
        await connection.close()


def finished(result: Result | None) -> bool:
    """A 200 whose last line says ``"done": true`` and no line is an error."""
    if result is None or result.status != 200:
        return False
    lines = result.body.strip().splitlines()
    return bool(lines) and b'"done":true' in lines[-1] and not any(b'"error"' in x for x in lines)


async def heartbeat_cost(feed: HeartbeatFeed, router: psutil.Process) -> dict[str, Any]:
    sent0, cpu0 = feed.sent, cpu_s(router)
    await asyncio.sleep(HEARTBEAT_WINDOW_S)
    sent = feed.sent - sent0
    return {
        "heartbeats_per_s": round(sent / HEARTBEAT_WINDOW_S, 1),
        "cpu_ms_per_heartbeat": round((cpu_s(router) - cpu0) * 1000 / max(1, sent), 3),
        "rss_mb_nodes": round(router.memory_info().rss / 2**20, 1),
    }


async def streams(port: int, router: psutil.Process) -> dict[str, Any]:
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "options": {"num_predict": TOKENS},
        }
    ).encode()
    peak = [router.memory_info().rss]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], router.memory_info().rss)
            await asyncio.sleep(0.2)

    sampler = asyncio.ensure_future(sample())
    cpu0, started = cpu_s(router), time.perf_counter()
    results = await asyncio.wait_for(
        asyncio.gather(*(one_stream(port, body) for _ in range(STREAMS))), STREAMS_TIMEOUT_S
    )
    wall, cpu = time.perf_counter() - started, cpu_s(router) - cpu0
    sampler.cancel()
    ok = [r for r in results if r is not None and finished(r)]
    return {
        "streams": STREAMS,
        "streams_ok": len(ok),
        "stream_statuses": sorted({r.status if r is not None else 0 for r in results}),
        "ttft_p50_ms": percentile([r.ttft_s for r in ok], 0.5),
        "ttft_p99_ms": percentile([r.ttft_s for r in ok], 0.99),
        "latency_p50_ms": percentile([r.latency_s for r in ok], 0.5),
        "latency_p99_ms": percentile([r.latency_s for r in ok], 0.99),
        "streams_wall_s": round(wall, 2),
        "cpu_ms_per_stream": round(cpu * 1000 / STREAMS, 2),
        "rss_mb_peak_streams": round(peak[0] / 2**20, 1),
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


async def measure(router_url: str, router_pid: int, sim_urls: list[str]) -> dict[str, Any]:
    router = psutil.Process(router_pid)
    feed = await HeartbeatFeed.start(router_url, sim_urls)
    try:
        report = {"nodes": NODES, "sims": len(sim_urls), **await heartbeat_cost(feed, router)}
        failed_before = feed.failed
        report.update(await streams(int(router_url.rsplit(":", 1)[1]), router))
        report["heartbeats_failed_during_streams"] = feed.failed - failed_before
        report["heartbeat_worst_late_ms"] = feed.worst_late_ms
    finally:
        await feed.stop()
    async with httpx.AsyncClient(timeout=30) as client:
        status = (await client.get(f"{router_url}/fleet/status")).json()
    report["breakers_open_after"] = len(status["router"]["open_circuits"])
    return report


def scoring_ms(nodes: int, data_dir: Path) -> float:
    """One ranking over ``nodes`` nodes, in process: CPU ms per decision (best of 7 batches)."""
    parts = build_parts(load_settings({"data_dir": data_dir, "mdns": False}, environ={}))
    for i in range(nodes):
        beat = heartbeat(f"node-{i:03d}", loaded=[(MODEL, 2.0)], memory_gb=64.0, num_parallel=4)
        parts.registry.apply(beat, "127.0.0.1")
    request = InferenceRequest(kind="chat", model=MODEL, body={"messages": []}, stream=True)
    parts.ranker.rank(MODEL, request, set())
    runs = max(10, 10_000 // nodes)
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        for _ in range(runs):
            parts.ranker.rank(MODEL, request, set())
        best = min(best, (time.process_time() - started) / runs)
    return round(best * 1000, 3)


ROWS = (
    ("nodes heartbeating", "nodes", ""),
    ("heartbeats per second", "heartbeats_per_s", ""),
    ("router CPU per heartbeat", "cpu_ms_per_heartbeat", "ms"),
    ("router RSS with the nodes", "rss_mb_nodes", "MB"),
    ("concurrent streams", "streams", ""),
    ("streams completed", "streams_ok", ""),
    ("time to first token p50", "ttft_p50_ms", "ms"),
    ("time to first token p99", "ttft_p99_ms", "ms"),
    ("time to last token p50", "latency_p50_ms", "ms"),
    ("time to last token p99", "latency_p99_ms", "ms"),
    ("router CPU per stream", "cpu_ms_per_stream", "ms"),
    ("router peak RSS, streams", "rss_mb_peak_streams", "MB"),
    ("heartbeats failed during streams", "heartbeats_failed_during_streams", ""),
    ("circuit breakers open after", "breakers_open_after", ""),
    ("one ranking, 50 nodes", "rank_50_nodes_ms", "ms"),
    ("one ranking, 500 nodes", "rank_500_nodes_ms", "ms"),
)


def table(report: dict[str, Any]) -> str:
    width = max(len(label) for label, _, _ in ROWS)
    return "\n".join(
        f"{label:<{width}}  {report.get(key)!s:>10} {unit}".rstrip() for label, key, unit in ROWS
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="herd-load-") as tmp:
        data_dir = Path(tmp)
        sims = [start_sim() for _ in range(SIMS)]
        try:
            router_url, router = start_router(
                data_dir / "router", "--log-level", "warning", "--max-queue", "4096"
            )
            try:
                report = asyncio.run(measure(router_url, router.pid, [url for url, _ in sims]))
            finally:
                router.stop()
        finally:
            for _, proc in sims:
                proc.stop()
        report["rank_50_nodes_ms"] = scoring_ms(50, data_dir / "rank50")
        report["rank_500_nodes_ms"] = scoring_ms(500, data_dir / "rank500")
    print(table(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")
    good = report["streams_ok"] == STREAMS and report["heartbeats_failed_during_streams"] == 0
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
