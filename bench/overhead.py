"""What the router costs: herd in front of one simulator vs the simulator directly, same run.

The simulator runs at time scale 0 (no generation delay), so every millisecond measured is HTTP
and routing work. For concurrency 1, 8 and 32 it reports latency p50/p99 both ways, the added
latency, requests/s both ways and their ratio, and the router's CPU per request (from the router
process's own CPU time). A streaming phase reports NDJSON chunks/s both ways. Prints a table and
writes ``bench/results/overhead.json``. Run: ``python -m bench.overhead``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.httpload import Result, run_closed_loop
from bench.processes import Proc, free_port, python_module, wait_http_ok, wait_until

MODEL = "llama3.2:3b"
CONCURRENCY = (1, 8, 32)
REQUESTS = {1: 600, 8: 1500, 32: 2000}
STREAM_TOKENS = 400
STREAM_REQUESTS = 40
RESULTS = Path(__file__).parent / "results" / "overhead.json"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _chat(stream: bool, tokens: int) -> bytes:
    return json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": stream,
            "options": {"num_predict": tokens},
        }
    ).encode()


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def _phase(
    port: int, body: bytes, concurrency: int, count: int
) -> tuple[list[Result], float]:
    results, wall = await run_closed_loop("127.0.0.1", port, "/api/chat", body, concurrency, count)
    bad = [r.status for r in results if r.status != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} failed requests (statuses {sorted(set(bad))})")
    return results, wall


async def measure(sim_port: int, router_port: int, router_pid: int) -> dict[str, Any]:
    small = _chat(stream=False, tokens=1)
    for port in (sim_port, router_port):  # warm both paths: model loaded, connections pooled
        await _phase(port, small, 4, 200)
    rows: list[dict[str, Any]] = []
    for concurrency in CONCURRENCY:
        count = REQUESTS[concurrency]
        direct, direct_wall = await _phase(sim_port, small, concurrency, count)
        cpu_before = _cpu_seconds(router_pid)
        routed, routed_wall = await _phase(router_port, small, concurrency, count)
        cpu_ms = (_cpu_seconds(router_pid) - cpu_before) * 1000 / count
        d_lat = [r.latency_s * 1000 for r in direct]
        r_lat = [r.latency_s * 1000 for r in routed]
        rows.append(
            {
                "concurrency": concurrency,
                "requests": count,
                "direct_p50_ms": round(statistics.median(d_lat), 3),
                "direct_p99_ms": round(_percentile(d_lat, 0.99), 3),
                "router_p50_ms": round(statistics.median(r_lat), 3),
                "router_p99_ms": round(_percentile(r_lat, 0.99), 3),
                "added_p50_ms": round(statistics.median(r_lat) - statistics.median(d_lat), 3),
                "added_p99_ms": round(_percentile(r_lat, 0.99) - _percentile(d_lat, 0.99), 3),
                "direct_rps": round(count / direct_wall, 1),
                "router_rps": round(count / routed_wall, 1),
                "throughput_ratio": round((count / routed_wall) / (count / direct_wall), 3),
                "router_cpu_ms_per_request": round(cpu_ms, 3),
            }
        )
    streamed = _chat(stream=True, tokens=STREAM_TOKENS)
    direct_s, direct_s_wall = await _phase(sim_port, streamed, 8, STREAM_REQUESTS)
    routed_s, routed_s_wall = await _phase(router_port, streamed, 8, STREAM_REQUESTS)
    direct_chunks = sum(r.chunks for r in direct_s) / direct_s_wall
    routed_chunks = sum(r.chunks for r in routed_s) / routed_s_wall
    return {
        "model": MODEL,
        "rows": rows,
        "streaming": {
            "concurrency": 8,
            "tokens_per_request": STREAM_TOKENS,
            "direct_chunks_per_s": round(direct_chunks, 1),
            "router_chunks_per_s": round(routed_chunks, 1),
            "ratio": round(routed_chunks / direct_chunks, 3),
            "chunks_per_request_router": round(sum(r.chunks for r in routed_s) / len(routed_s), 1),
        },
    }


def _print(report: dict[str, Any]) -> None:
    print("\nRouter overhead vs the simulator directly (time scale 0, one node)")
    header = (
        f"{'conc':>4} {'direct p50':>10} {'router p50':>10} {'added p50':>9} {'added p99':>9} "
        f"{'direct rps':>10} {'router rps':>10} {'ratio':>6} {'cpu ms/req':>10}"
    )
    print(header)
    for row in report["rows"]:
        print(
            f"{row['concurrency']:>4} {row['direct_p50_ms']:>10.3f} {row['router_p50_ms']:>10.3f} "
            f"{row['added_p50_ms']:>9.3f} {row['added_p99_ms']:>9.3f} {row['direct_rps']:>10.1f} "
            f"{row['router_rps']:>10.1f} {row['throughput_ratio']:>6.2f} "
            f"{row['router_cpu_ms_per_request']:>10.3f}"
        )
    s = report["streaming"]
    print(
        f"streaming (c={s['concurrency']}, {s['tokens_per_request']} tokens): direct "
        f"{s['direct_chunks_per_s']:.0f} chunks/s, router {s['router_chunks_per_s']:.0f} chunks/s "
        f"(ratio {s['ratio']:.2f})"
    )
    targets = {
        "added p50 at c=1 <= 1 ms": report["rows"][0]["added_p50_ms"] <= 1.0,
        "throughput at c=32 >= 30% of direct": report["rows"][-1]["throughput_ratio"] >= 0.30,
        "router CPU <= 1 ms/request": all(
            r["router_cpu_ms_per_request"] <= 1.0 for r in report["rows"]
        ),
        "streamed chunks/s >= 50% of direct": s["ratio"] >= 0.5,
    }
    for name, met in targets.items():
        print(f"  {'met   ' if met else 'MISSED'} {name}")
    report["targets"] = targets


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="herd-bench-"))
    sim_port, router_port = free_port(), free_port()
    sim = Proc(
        python_module(
            "node.sim", "--port", str(sim_port), "--profile", "workstation", "--time-scale", "0"
        ),
        name="bench-sim",
    )
    router = agent = None
    try:
        wait_http_ok(f"http://127.0.0.1:{sim_port}/api/version", sim)
        router = Proc(
            python_module(
                "router",
                "--host",
                "127.0.0.1",
                "--port",
                str(router_port),
                "--data-dir",
                str(data_dir),
                "--no-mdns",
                "--log-level",
                "warning",
            ),
            name="bench-router",
        )
        router_url = f"http://127.0.0.1:{router_port}"
        wait_http_ok(f"{router_url}/fleet/status", router)
        agent = Proc(
            python_module(
                "node",
                "--router-url",
                router_url,
                "--ollama-host",
                f"http://127.0.0.1:{sim_port}",
                "--node-id",
                "bench-node",
                "--interval",
                "2",
                "--key-file",
                str(Path(data_dir) / "bench-node.key"),
            ),
            name="bench-agent",
        )
        wait_until(
            lambda: httpx.get(f"{router_url}/fleet/status").json()["fleet"]["nodes_online"] == 1,
            timeout=30,
            what="the node to register",
        )
        report = asyncio.run(measure(sim_port, router_port, router.pid))
    finally:
        for proc in (agent, router, sim):
            if proc is not None:
                proc.stop()
    _print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
