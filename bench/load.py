"""The router under load: 500 nodes heartbeating and 1,000 concurrent streams.

One simulator (time scale 0, ``num_parallel`` 4096) stands in for every node's Ollama; 500
synthetic nodes, each claiming it with the model loaded and 4 slots, heartbeat every 5 s (100
heartbeats/s) with their node keys, like real agents. Reported: the router's CPU per heartbeat
and its RSS with 500 nodes; then 1,000 streams at once (each 8 chunks, 250 ms apart, so they
overlap) while the heartbeats go on: how many succeeded, time to first byte and total time p50 /
p99, the router's peak RSS and CPU; and, in process, one scoring decision over the 500 nodes.
Writes ``bench/results/load.json``. Run: ``python -m bench.load``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.httpload import run_closed_loop
from herd_contract.heartbeat import Heartbeat
from router.config import load_settings
from router.parts import build_parts
from router.pipeline.request import InferenceRequest

NODES = int(os.environ.get("HERD_LOAD_NODES", "500"))
STREAMS = int(os.environ.get("HERD_LOAD_STREAMS", "1000"))
HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_WINDOW_S = 10.0
STREAMS_TIMEOUT_S = 300.0
MODEL = "llama3.2:3b"
RESULTS = Path(__file__).parent / "results" / "load.json"
GB = 1_000_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ok(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} never answered")


def heartbeat(node_id: str, sim_url: str) -> dict[str, Any]:
    size = int(2.0 * GB)
    return {
        "node_id": node_id,
        "agent_version": "bench",
        "hardware": {"hostname": node_id, "memory_bytes": 64 * GB},
        "cpu": {"cores": 8, "utilization_pct": 10},
        "memory": {"total_bytes": 64 * GB, "used_bytes": 8 * GB, "available_bytes": 56 * GB},
        "ollama": {
            "url": sim_url,
            "version": "0.12.3",
            "num_parallel": 4,
            "models_loaded": [
                {
                    "name": MODEL,
                    "model": MODEL,
                    "size": size,
                    "size_vram": size,
                    "context_length": 4096,
                }
            ],
            "models_available": [{"name": MODEL, "model": MODEL, "size": size}],
        },
    }


class Heartbeats:
    """500 agents' heartbeats, each node on its own 5 s cycle, keys kept like an agent's."""

    def __init__(self, router_url: str, sim_url: str) -> None:
        self.url = f"{router_url}/fleet/heartbeat"
        self.bodies = {f"node-{i:03d}": heartbeat(f"node-{i:03d}", sim_url) for i in range(NODES)}
        self.keys: dict[str, str] = {}
        self.sent = 0
        self.failed = 0

    async def send(self, client: httpx.AsyncClient, node_id: str) -> None:
        key = self.keys.get(node_id)
        headers = {"X-Herd-Node-Key": key} if key else {}
        try:
            response = await client.post(self.url, json=self.bodies[node_id], headers=headers)
        except httpx.HTTPError:
            self.failed += 1
            return
        self.sent += 1
        if response.status_code != 200:
            self.failed += 1
        elif issued := response.json().get("node_key"):
            self.keys[node_id] = issued

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        spacing = HEARTBEAT_INTERVAL_S / NODES
        ids = list(self.bodies)
        i = 0
        start = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            task = asyncio.create_task(self.send(client, ids[i % NODES]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
            delay = start + i * spacing - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        await asyncio.gather(*pending)


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def _measure(router_port: int, router_pid: int, sim_url: str) -> dict[str, Any]:
    router_url = f"http://127.0.0.1:{router_port}"
    beats = Heartbeats(router_url, sim_url)
    limits = httpx.Limits(max_connections=64)
    router = psutil.Process(router_pid)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(beats.send(client, n) for n in beats.bodies))
        stop = asyncio.Event()
        loop = asyncio.create_task(beats.run(client, stop))
        sent0, cpu0 = beats.sent, _cpu_s(router)
        await asyncio.sleep(HEARTBEAT_WINDOW_S)
        sent1, cpu1 = beats.sent, _cpu_s(router)
        rss_nodes = router.memory_info().rss
        print(
            f"{NODES} nodes, {(sent1 - sent0) / HEARTBEAT_WINDOW_S:.0f} heartbeats/s: "
            f"{(cpu1 - cpu0) * 1000 / max(1, sent1 - sent0):.3f} ms router CPU per heartbeat, "
            f"RSS {rss_nodes / 2**20:.0f} MB",
            flush=True,
        )
        body = json.dumps(
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "options": {"num_predict": 8},
            }
        ).encode()
        peak = [rss_nodes]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], router.memory_info().rss)
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        cpu2 = _cpu_s(router)
        results, wall = await asyncio.wait_for(
            run_closed_loop("127.0.0.1", router_port, "/api/chat", body, STREAMS, STREAMS),
            STREAMS_TIMEOUT_S,
        )
        cpu3 = _cpu_s(router)
        sampler.cancel()
        stop.set()
        await loop
    ok = [r for r in results if r.status == 200]
    return {
        "nodes": NODES,
        "heartbeats_per_s": round((sent1 - sent0) / HEARTBEAT_WINDOW_S, 1),
        "cpu_ms_per_heartbeat": round((cpu1 - cpu0) * 1000 / max(1, sent1 - sent0), 3),
        "heartbeats_failed": beats.failed,
        "rss_mb_500_nodes": round(rss_nodes / 2**20, 1),
        "streams": STREAMS,
        "streams_ok": len(ok),
        "stream_statuses": sorted({r.status for r in results}),
        "ttfb_p50_ms": _pct([r.ttfb_s for r in ok], 0.5),
        "ttfb_p99_ms": _pct([r.ttfb_s for r in ok], 0.99),
        "latency_p50_ms": _pct([r.latency_s for r in ok], 0.5),
        "latency_p99_ms": _pct([r.latency_s for r in ok], 0.99),
        "streams_wall_s": round(wall, 2),
        "router_cpu_s_streams": round(cpu3 - cpu2, 2),
        "rss_mb_peak_streams": round(peak[0] / 2**20, 1),
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def scoring_time(sim_url: str, data_dir: Path) -> dict[str, float]:
    """One ranking over 500 nodes, in process (microseconds, mean of 200)."""
    parts = build_parts(load_settings({"data_dir": data_dir, "mdns": False}, environ={}))
    for node_id in (f"node-{i:03d}" for i in range(NODES)):
        parts.registry.apply(Heartbeat.model_validate(heartbeat(node_id, sim_url)), "127.0.0.1")
    request = InferenceRequest(kind="chat", model=MODEL, body={"messages": []}, stream=True)
    parts.ranker.rank(MODEL, request, set())
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        parts.ranker.rank(MODEL, request, set())
    return {"rank_500_nodes_ms": round((time.perf_counter() - started) / runs * 1000, 3)}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="herd-load-") as tmp:
        data_dir = Path(tmp)
        sim_port, router_port = _free_port(), _free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        sim_args = [
            sys.executable,
            "-m",
            "node.sim",
            "--port",
            str(sim_port),
            "--profile",
            "workstation",
            "--time-scale",
            "0",
            "--num-parallel",
            "4096",
            "--max-queue",
            "8192",
        ]
        router_args = [
            sys.executable,
            "-m",
            "router",
            "--host",
            "127.0.0.1",
            "--port",
            str(router_port),
            "--data-dir",
            str(data_dir / "router"),
            "--no-mdns",
            "--log-level",
            "warning",
            "--max-queue",
            "4096",
        ]
        env_note = os.environ.get("HERD_LOAD_NOTE", "")
        with _process(sim_args, data_dir / "sim.log") as sim:
            _wait_ok(f"{sim_url}/api/version", sim)
            httpx.post(
                f"{sim_url}/_sim/faults",
                json={"kind": "slow", "delay_s": 0, "chunk_delay_s": 0.25, "count": -1},
            ).raise_for_status()
            with _process(router_args, data_dir / "router.log") as router:
                _wait_ok(f"http://127.0.0.1:{router_port}/fleet/status", router)
                report = asyncio.run(_measure(router_port, router.pid, sim_url))
        report.update(scoring_time(sim_url, data_dir / "scoring"))
        if env_note:
            report["note"] = env_note
    print(
        f"{report['streams']} concurrent streams: {report['streams_ok']} ok "
        f"(statuses {report['stream_statuses']}), TTFB p50 {report['ttfb_p50_ms']} ms "
        f"p99 {report['ttfb_p99_ms']} ms, total p50 {report['latency_p50_ms']} ms "
        f"p99 {report['latency_p99_ms']} ms, peak RSS {report['rss_mb_peak_streams']} MB, "
        f"router CPU {report['router_cpu_s_streams']} s"
    )
    print(f"one scoring decision over {NODES} nodes: {report['rank_500_nodes_ms']} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"written to {RESULTS}")
    return 0 if report["streams_ok"] == STREAMS and report["heartbeats_failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
