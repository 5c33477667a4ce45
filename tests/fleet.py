"""A real fleet on loopback for end-to-end tests: a router process and simulated nodes.

Each node is ``herd-node --simulate PROFILE``: the agent and its Ollama simulator in one process,
heartbeating every 0.2 s. ``Fleet.sim(node_id)`` talks to a node's simulator directly (its
``/_sim`` hooks prove what reached it).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.processes import launch_router, start_router  # noqa: F401 - tests import it from here
from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until


@dataclass
class SimNode:
    node_id: str
    profile: str
    port: int
    proc: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sim/state", timeout=5).json()

    def records(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_sim/records", timeout=5).json()["requests"]

    def fault(self, **spec: Any) -> str:
        response = httpx.post(f"{self.url}/_sim/faults", json=spec, timeout=5)
        response.raise_for_status()
        return response.json()["fault_id"]

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()
        httpx.delete(f"{self.url}/_sim/faults", timeout=5).raise_for_status()

    def models(self) -> set[str]:
        """The models on this node's disk, as its own ``/api/tags`` says."""
        return {m["name"] for m in httpx.get(f"{self.url}/api/tags", timeout=5).json()["models"]}

    def configure(self, **changes: Any) -> None:
        httpx.post(f"{self.url}/_sim/config", json=changes, timeout=5).raise_for_status()


@dataclass
class Fleet:
    router_url: str
    router: Proc
    data_dir: Path
    nodes: dict[str, SimNode] = field(default_factory=dict)

    def sim(self, node_id: str) -> SimNode:
        return self.nodes[node_id]

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.router_url}/fleet/status", timeout=5).json()

    def node_status(self, node_id: str) -> dict[str, Any] | None:
        return next((n for n in self.status()["nodes"] if n["node_id"] == node_id), None)

    def wait_loaded(self, node_id: str, model: str, timeout: float = 10.0) -> None:
        """Wait until the router's registry shows ``model`` loaded on ``node_id``."""

        def loaded() -> bool:
            node = self.node_status(node_id)
            return bool(node) and any(m["name"] == model for m in node["ollama"]["models_loaded"])

        wait_until(loaded, timeout=timeout, what=f"{model} loaded on {node_id}")

    def wait_unloaded_everywhere(self, model: str, timeout: float = 10.0) -> None:
        def gone() -> bool:
            return all(
                all(m["name"] != model for m in n["ollama"]["models_loaded"])
                for n in self.status()["nodes"]
            )

        wait_until(gone, timeout=timeout, what=f"{model} unloaded everywhere")

    def reset(self) -> None:
        for node in self.nodes.values():
            node.reset()

    def unload_all(self) -> None:
        """Unload every model on every node (through each simulator), and wait until the router's
        registry agrees, so the next test starts from a cold fleet."""
        for node in self.nodes.values():
            for model in node.state()["loaded"]:
                httpx.post(
                    f"{node.url}/api/generate",
                    json={"model": model["name"], "keep_alive": 0},
                    timeout=10,
                ).raise_for_status()

        def all_cold() -> bool:
            return all(not n["ollama"]["models_loaded"] for n in self.status()["nodes"])

        wait_until(all_cold, timeout=10, what="every model unloaded")

    def add_node(
        self,
        node_id: str,
        profile: str,
        time_scale: float = 0.02,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> SimNode:
        """Start a simulated node and wait until the router shows it online."""
        node = self.spawn_node(node_id, profile, time_scale, extra, env)
        self.wait_online(node)
        return node

    def spawn_node(
        self,
        node_id: str,
        profile: str,
        time_scale: float = 0.02,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> SimNode:
        """Start a simulated node's process (``wait_online`` waits for it)."""
        port = free_port()
        proc = Proc(
            python_module(
                "node",
                "--simulate",
                profile,
                "--sim-port",
                str(port),
                "--time-scale",
                str(time_scale),
                "--node-id",
                node_id,
                "--router-url",
                self.router_url,
                "--interval",
                "0.2",
                *(extra or []),
            ),
            # Settings from the caller's environment must not redirect the agent.
            env={**(env or {}), "OLLAMA_HOST": "", "HERD_NODE_ROUTER_URL": ""},
            name=f"node-{node_id}",
        )
        node = SimNode(node_id=node_id, profile=profile, port=port, proc=proc)
        self.nodes[node_id] = node
        return node

    def wait_online(self, node: SimNode) -> None:
        wait_http_ok(f"{node.url}/api/version", node.proc)
        wait_until(
            lambda: (self.node_status(node.node_id) or {}).get("status") == "online",
            timeout=20,
            what=f"{node.node_id} online",
        )

    def stop(self) -> None:
        """End every node (all told at once, each drains), then the router."""
        for node in self.nodes.values():
            node.proc.signal(signal.SIGTERM)
        for node in self.nodes.values():
            node.proc.stop()
        self.router.stop()


@contextlib.contextmanager
def running_fleet(
    data_dir: Path,
    nodes: list[tuple[str, str]] | list[tuple[str, str, list[str]]],
    router_flags: list[str] | None = None,
    node_flags: list[str] | None = None,
    time_scale: float = 0.02,
    env: dict[str, str] | None = None,
    router_wrapper: list[str] | None = None,
    restore_evicted: bool = False,
) -> Iterator[Fleet]:
    """A router and ``nodes`` (``(id, profile)`` or ``(id, profile, [flags])``), all ready.

    The router does not load evicted models back by itself unless ``restore_evicted``: a test
    that did not ask for it must not find models appearing between its steps."""
    flags = [*(router_flags or []), *([] if restore_evicted else ["--no-restore-evicted"])]
    url, router = launch_router(data_dir, *flags, env=env, wrapper=router_wrapper)
    fleet = Fleet(router_url=url, router=router, data_dir=data_dir)
    try:
        # Every process starts at once (an agent retries until the router answers), then each
        # is waited for: a fleet is ready in about the time its slowest process takes.
        spawned = [
            fleet.spawn_node(
                node[0],
                node[1],
                time_scale=time_scale,
                extra=[*(node_flags or []), *(node[2] if len(node) > 2 else [])],
                env=env,
            )
            for node in nodes
        ]
        wait_http_ok(f"{url}/fleet/status", router)
        for node in spawned:
            fleet.wait_online(node)
        yield fleet
    finally:
        fleet.stop()
