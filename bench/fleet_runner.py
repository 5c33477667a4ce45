"""The fleet benchmark's sides: two fresh simulated fleets, started, run and stopped.

Owns ``Side`` (one fleet: its URL, its simulators and every process started for it),
``start_herd`` (``python -m router`` and three ``python -m node --simulate PROFILE`` nodes, ready
once all three are online), ``start_roundrobin`` (three ``python -m node.sim`` servers behind
``bench.roundrobin``) and ``run_side``: start a side, apply herd settings, drive the workload, wait
for the simulators to idle, summarise, stop. Everything on 127.0.0.1, every wait bounded, every
process started here stopped here (with its output tail when start-up failed).

Never builds the workload (``bench.workload``), never measures a request itself
(``bench.fleet_traffic``) and never computes figures (``bench.fleet_summary``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.fleet_summary import herd_routing, summarise, wait_idle
from bench.fleet_traffic import drive
from bench.workload import NODES, Session
from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

START_TIMEOUT_S = 30.0
HEARTBEAT_S = 0.5


@dataclass
class Side:
    name: str
    base_url: str
    sims: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    def add_sim(self, node_id: str, port: int, proc: Proc) -> None:
        """Track a process serving a simulator on ``port`` and wait until it answers."""
        self.procs.append(proc)
        self.sims[node_id] = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{self.sims[node_id]}/api/version", proc, timeout=START_TIMEOUT_S)

    def stop(self, show_output: bool = False) -> None:
        for proc in reversed(self.procs):
            if show_output:
                with contextlib.suppress(Exception):
                    tail = proc.output()[-1500:]
                    print(f"--- {proc.name} output (tail) ---\n{tail}", file=sys.stderr)
            with contextlib.suppress(Exception):
                proc.stop()
            with contextlib.suppress(OSError):
                Path(proc.log.name).unlink()


@contextlib.contextmanager
def _stopped_if_failing(side: Side) -> Iterator[Side]:
    """Starting ``side``: if anything fails, stop what was started (showing its output)."""
    try:
        yield side
    except BaseException:
        side.stop(show_output=True)
        raise


def _reset_sims(sims: dict[str, str]) -> None:
    for url in sims.values():
        httpx.post(f"{url}/_sim/reset", json={"unload": True}, timeout=10).raise_for_status()


def start_herd(time_scale: float, data_dir: Path) -> Side:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    side = Side("herd", url, {})
    args = ("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--no-mdns")
    with _stopped_if_failing(side):
        router = Proc(python_module("router", *args), name="bench-router")
        side.procs.append(router)
        wait_http_ok(f"{url}/fleet/status", router, timeout=START_TIMEOUT_S)
        for node_id, profile in NODES:
            sim_port = free_port()
            proc = Proc(
                python_module(
                    "node",
                    "--simulate",
                    profile,
                    "--sim-port",
                    str(sim_port),
                    "--time-scale",
                    str(time_scale),
                    "--node-id",
                    node_id,
                    "--router-url",
                    url,
                    "--interval",
                    str(HEARTBEAT_S),
                    "--log-level",
                    "warning",
                ),
                name=f"bench-node-{node_id}",
            )
            side.add_sim(node_id, sim_port, proc)

        def all_online() -> bool:
            nodes = httpx.get(f"{url}/fleet/status", timeout=5).json()["nodes"]
            ready = {
                n["node_id"]
                for n in nodes
                if n["status"] == "online" and n["ollama"]["models_available"]
            }
            return ready == {node_id for node_id, _ in NODES}

        wait_until(all_online, timeout=START_TIMEOUT_S, what="three nodes online")
        _reset_sims(side.sims)
    return side


def start_roundrobin(time_scale: float) -> Side:
    side = Side("round-robin", "", {})
    with _stopped_if_failing(side):
        for node_id, profile in NODES:
            port = free_port()
            proc = Proc(
                python_module(
                    "node.sim",
                    "--port",
                    str(port),
                    "--profile",
                    profile,
                    "--time-scale",
                    str(time_scale),
                ),
                name=f"bench-sim-{node_id}",
            )
            side.add_sim(node_id, port, proc)
        port = free_port()
        upstreams = [arg for url in side.sims.values() for arg in ("--upstream", url)]
        proxy = Proc(
            python_module("bench.roundrobin", "--port", str(port), *upstreams), name="bench-rr"
        )
        side.procs.append(proxy)
        side.base_url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{side.base_url}/_rr", proxy, timeout=START_TIMEOUT_S)
        _reset_sims(side.sims)
    return side


def run_side(
    name: str,
    time_scale: float,
    sessions: list[Session],
    window_s: float,
    herd_settings: dict[str, Any] | None = None,
) -> Any:
    with tempfile.TemporaryDirectory(prefix="herd-bench-fleet-") as tmp:
        started = time.monotonic()
        is_herd = name.startswith("herd")
        side = start_herd(time_scale, Path(tmp)) if is_herd else start_roundrobin(time_scale)
        try:
            if herd_settings:
                httpx.post(
                    f"{side.base_url}/dashboard/api/settings", json=herd_settings, timeout=10
                ).raise_for_status()
            print(f"[{name}] fleet up in {time.monotonic() - started:.1f}s; running...", flush=True)
            began = time.monotonic()
            outcomes = asyncio.run(drive(side.base_url, sessions, window_s))
            elapsed = time.monotonic() - began
            wait_idle(side)
            summary = summarise(side, outcomes)
            summary["run_seconds"] = round(elapsed, 1)
            if is_herd:
                summary["settings"] = herd_settings or {}
                summary["routing"] = herd_routing(side.base_url)
            return summary
        finally:
            side.stop()
