"""The fleet benchmark's sides: a fresh simulated fleet per run, started, driven, stopped.

Owns ``Side`` (one fleet: its URL, its simulators, the process of each node and how to start it
again) and ``run_side``: start the side for a scenario (``herd``: ``python -m router`` with one
``python -m node --simulate PROFILE`` agent per node; ``round-robin`` and ``least-connections``:
one ``python -m node.sim`` per node behind ``bench.roundrobin``), drive the workload while the
scenario's events happen (a stopped node is killed, agent and simulator together; a started one
comes back on the same port, cold), wait for the simulators to idle, summarise, stop. Everything
on 127.0.0.1, every wait bounded, every process started here stopped here.

Never builds the workload (``bench.scenarios``), never measures a request itself
(``bench.fleet_traffic``) and never computes figures (``bench.fleet_summary``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.fleet_summary import herd_routing, sim_counters, summarise, wait_idle
from bench.fleet_traffic import drive
from bench.processes import Proc, free_port, python_module, wait_http_ok, wait_until
from bench.scenarios import Event, NodeSpec, Scenario
from bench.workload import Session

START_TIMEOUT_S = 30.0
HEARTBEAT_S = 0.5
ROUTER_FLAGS = ("--degraded-after", "1.5", "--offline-after", "3")
"""Node lifecycle at the benchmark's heartbeat (0.5 s): degraded after 3, offline after 6 missed."""


@dataclass
class Side:
    name: str
    base_url: str
    sims: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    node_procs: dict[str, Proc] = field(default_factory=dict)
    starters: dict[str, Callable[[], Proc]] = field(default_factory=dict)
    lost_counters: list[dict[str, Any]] = field(default_factory=list)
    """Counters of simulators killed during the run (read just before)."""

    def start_node(self, node_id: str) -> None:
        proc = self.starters[node_id]()
        self.procs.append(proc)
        self.node_procs[node_id] = proc
        wait_http_ok(f"{self.sims[node_id]}/api/version", proc, timeout=START_TIMEOUT_S)

    def stop_node(self, node_id: str) -> None:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            self.lost_counters.append(sim_counters(self.sims[node_id]))
        self.node_procs[node_id].kill()

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
    try:
        yield side
    except BaseException:
        side.stop(show_output=True)
        raise


def _reset_sims(sims: dict[str, str]) -> None:
    for url in sims.values():
        httpx.post(f"{url}/_sim/reset", json={"unload": True}, timeout=10).raise_for_status()


def _agent(node: NodeSpec, port: int, time_scale: float, router_url: str) -> Callable[[], Proc]:
    args = [
        *("--simulate", node.profile, "--sim-port", str(port), "--time-scale", str(time_scale)),
        *("--node-id", node.node_id, "--router-url", router_url),
        *("--interval", str(HEARTBEAT_S), "--log-level", "warning"),
    ]
    if node.memory_gb is not None:
        args += ["--sim-memory-gb", str(node.memory_gb)]
    if node.extra_models:
        args += ["--sim-models", ",".join(f"+{m}" for m in node.extra_models)]
    return lambda: Proc(python_module("node", *args), name=f"bench-node-{node.node_id}")


def _sim(node: NodeSpec, port: int, time_scale: float) -> Callable[[], Proc]:
    args = ["--port", str(port), "--profile", node.profile, "--time-scale", str(time_scale)]
    if node.memory_gb is not None:
        args += ["--memory-gb", str(node.memory_gb)]
    if node.extra_models:
        args += ["--models", ",".join(node.models)]
    return lambda: Proc(python_module("node.sim", *args), name=f"bench-sim-{node.node_id}")


def start_herd(scenario: Scenario, data_dir: Path) -> Side:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    side = Side("herd", url, {})
    args = ("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--no-mdns")
    with _stopped_if_failing(side):
        router = Proc(python_module("router", *args, *ROUTER_FLAGS), name="bench-router")
        side.procs.append(router)
        wait_http_ok(f"{url}/fleet/status", router, timeout=START_TIMEOUT_S)
        for node in scenario.nodes:
            sim_port = free_port()
            side.sims[node.node_id] = f"http://127.0.0.1:{sim_port}"
            side.starters[node.node_id] = _agent(node, sim_port, scenario.time_scale, url)
            side.start_node(node.node_id)
        wait_until(
            lambda: _online(url) == {n.node_id for n in scenario.nodes},
            timeout=START_TIMEOUT_S,
            what="every node online",
        )
        _reset_sims(side.sims)
    return side


def _online(url: str) -> set[str]:
    nodes = httpx.get(f"{url}/fleet/status", timeout=5).json()["nodes"]
    return {
        n["node_id"] for n in nodes if n["status"] == "online" and n["ollama"]["models_available"]
    }


def start_baseline(scenario: Scenario, policy: str) -> Side:
    side = Side(policy, "", {})
    with _stopped_if_failing(side):
        for node in scenario.nodes:
            port = free_port()
            side.sims[node.node_id] = f"http://127.0.0.1:{port}"
            side.starters[node.node_id] = _sim(node, port, scenario.time_scale)
            side.start_node(node.node_id)
        port = free_port()
        upstreams = [arg for url in side.sims.values() for arg in ("--upstream", url)]
        proxy = Proc(
            python_module("bench.roundrobin", "--port", str(port), "--policy", policy, *upstreams),
            name=f"bench-{policy}",
        )
        side.procs.append(proxy)
        side.base_url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{side.base_url}/_rr", proxy, timeout=START_TIMEOUT_S)
        _reset_sims(side.sims)
    return side


async def _events(side: Side, events: tuple[Event, ...], time_scale: float) -> None:
    began = time.monotonic()
    for event in sorted(events, key=lambda e: e.at_s):
        delay = began + event.at_s * time_scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        action = side.stop_node if event.action == "stop" else side.start_node
        await asyncio.to_thread(action, event.node_id)


async def _drive_with_events(side: Side, scenario: Scenario, sessions: list[Session]) -> Any:
    scale = scenario.time_scale
    real = [dataclasses.replace(s, start_s=s.start_s * scale) for s in sessions]
    events = asyncio.ensure_future(_events(side, scenario.events, scale))
    try:
        return await drive(side.base_url, real, scenario.window_s * scale)
    finally:
        await events


KEEP_TRACES_ENV = "HERD_BENCH_TRACES"
"""A directory: herd's trace database of every run is copied there (to see each decision)."""


def run_side(name: str, scenario: Scenario, sessions: list[Session]) -> dict[str, Any]:
    """One run: a fresh fleet for ``name`` (herd or a baseline policy), the workload, figures."""
    with tempfile.TemporaryDirectory(prefix="herd-bench-fleet-") as tmp:
        started = time.monotonic()
        side = start_herd(scenario, Path(tmp)) if name == "herd" else start_baseline(scenario, name)
        try:
            print(f"[{scenario.name}/{name}] up in {time.monotonic() - started:.1f}s", flush=True)
            began = time.monotonic()
            outcomes = asyncio.run(_drive_with_events(side, scenario, sessions))
            elapsed = time.monotonic() - began
            wait_idle(side)
            summary = summarise(side, outcomes, scenario.time_scale)
            summary["run_seconds"] = round(elapsed, 1)
            if name == "herd":
                summary["routing"] = herd_routing(side.base_url)
            return summary
        finally:
            side.stop()
            keep = os.environ.get(KEEP_TRACES_ENV)
            if keep and name == "herd" and (Path(tmp) / "latency.db").exists():
                Path(keep).mkdir(parents=True, exist_ok=True)
                stamp = time.strftime("%H%M%S")
                shutil.copy(Path(tmp) / "latency.db", Path(keep) / f"{scenario.name}-{stamp}.db")
