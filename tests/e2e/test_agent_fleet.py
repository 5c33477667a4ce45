"""A real router and real ``herd-node`` agents, each in front of its own simulator, on 127.0.0.1.

Timeouts are shortened with flags (router ``--degraded-after 1 --offline-after 2``, agent
``--interval 0.2``) so each test takes a few seconds; every wait is a bounded poll of
``/fleet/status`` or of a process's output. mDNS stays on 127.0.0.1.
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.discovery import default_service_name
from tests.procs import Proc, free_port, get_json, python_module, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e

FAST = ["--degraded-after", "1", "--offline-after", "2"]
KEY_DIR = Path(tempfile.mkdtemp(prefix="herd-node-keys-"))
"""Node keys of the agents these tests start: never in the real home directory."""
CLEAN_ENV = {"HERD_FLEET_TOKEN": "", "OLLAMA_HOST": "", "HERD_NODE_ROUTER_URL": ""}


class Sim:
    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc(
            python_module("node.sim", "--port", str(self.port), "--profile", profile),
            name=f"sim-{profile}",
        )

    def model_names(self) -> set[str]:
        return {m["name"] for m in get_json(f"{self.url}/api/tags")["models"]}


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[Sim, Sim]]:
    pair = (Sim("workstation"), Sim("laptop"))
    try:
        for sim in pair:
            wait_http_ok(f"{sim.url}/api/version", sim.proc)
        yield pair
    finally:
        for sim in pair:
            sim.proc.stop()


class Router:
    def __init__(
        self,
        data_dir: Path,
        *flags: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc(
            python_module(
                "router",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                *flags,
            ),
            env={**CLEAN_ENV, **(env or {})},
            name="router",
        )

    def wait_ready(self) -> None:
        wait_http_ok(f"{self.url}/fleet/status", self.proc)

    def nodes(self) -> dict[str, dict[str, Any]]:
        if not self.proc.alive():
            raise RuntimeError(f"router exited:\n{self.proc.output()}")
        return {n["node_id"]: n for n in get_json(f"{self.url}/fleet/status")["nodes"]}

    def status_of(self, node_id: str) -> str | None:
        node = self.nodes().get(node_id)
        return node["status"] if node else None


def agent(node_id: str, ollama_url: str, *flags: str, env: dict[str, str] | None = None) -> Proc:
    return Proc(
        python_module(
            "node",
            "--node-id",
            node_id,
            "--ollama-host",
            ollama_url,
            "--interval",
            "0.2",
            "--key-file",
            str(KEY_DIR / f"{node_id}.key"),
            *flags,
        ),
        env={**CLEAN_ENV, **(env or {})},
        name=f"agent-{node_id}",
    )


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Every process a test starts, stopped when it ends (whatever happened)."""
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


def test_two_agents_report_their_simulators(
    sims: tuple[Sim, Sim], tmp_path: Path, procs: list[Proc]
) -> None:
    workstation, laptop = sims
    router = Router(tmp_path, "--no-mdns")
    procs.append(router.proc)
    router.wait_ready()
    procs.append(
        agent(
            "ws",
            workstation.url,
            "--router-url",
            router.url,
            env={"OLLAMA_NUM_PARALLEL": "4", "OLLAMA_KEEP_ALIVE": "10m"},
        )
    )
    procs.append(agent("lap", laptop.url, "--router-url", router.url))

    def both_online_with_models() -> dict[str, dict[str, Any]] | None:
        nodes = router.nodes()
        ready = all(
            nodes.get(n, {}).get("status") == "online"
            and nodes[n]["ollama"]["models_available"]
            # each model's window comes from /api/show, a few per heartbeat
            and all(m["context_length"] > 0 for m in nodes[n]["ollama"]["models_available"])
            for n in ("ws", "lap")
        )
        return nodes if ready else None

    nodes = wait_until(both_online_with_models, timeout=20, what="both agents online")
    for node_id, sim in (("ws", workstation), ("lap", laptop)):
        ollama = nodes[node_id]["ollama"]
        assert ollama["reachable"] is True
        assert ollama["url"] == sim.url
        assert {m["name"] for m in ollama["models_available"]} == sim.model_names()
        assert all(m["size_gb"] > 0 for m in ollama["models_available"])
        assert nodes[node_id]["memory"]["total_gb"] > 0
        assert nodes[node_id]["cpu"]["cores"] >= 1
    assert nodes["ws"]["ollama"]["num_parallel"] == 4
    assert nodes["ws"]["ollama"]["keep_alive"] == "10m"


def test_a_killed_agent_goes_degraded_then_offline(
    sims: tuple[Sim, Sim], tmp_path: Path, procs: list[Proc]
) -> None:
    workstation, laptop = sims
    router = Router(tmp_path, "--no-mdns", *FAST)
    procs.append(router.proc)
    router.wait_ready()
    victim = agent("victim", workstation.url, "--router-url", router.url)
    survivor = agent("survivor", laptop.url, "--router-url", router.url)
    procs.extend([victim, survivor])
    wait_until(
        lambda: router.status_of("victim") == "online" and router.status_of("survivor") == "online",
        timeout=20,
        what="both online",
    )
    victim.kill()  # SIGKILL: no draining heartbeat
    wait_until(lambda: router.status_of("victim") == "degraded", timeout=10, what="degraded")
    wait_until(lambda: router.status_of("victim") == "offline", timeout=10, what="offline")
    assert router.status_of("survivor") == "online"


def test_sigterm_drains_the_node_at_once(
    sims: tuple[Sim, Sim], tmp_path: Path, procs: list[Proc]
) -> None:
    workstation, _ = sims
    # Silence alone would take 60 s to make it offline: only the draining heartbeat can.
    router = Router(tmp_path, "--no-mdns", "--degraded-after", "30", "--offline-after", "60")
    procs.append(router.proc)
    router.wait_ready()
    node = agent("leaver", workstation.url, "--router-url", router.url)
    procs.append(node)
    wait_until(lambda: router.status_of("leaver") == "online", timeout=20, what="online")
    node.signal(signal.SIGTERM)
    assert node.wait_exit(timeout=5) == 0
    view = router.nodes()["leaver"]
    assert view["status"] == "offline"
    assert view["draining"] is True
    assert "draining heartbeat" in node.output()


def test_an_agent_started_first_finds_the_router_over_mdns(
    sims: tuple[Sim, Sim], tmp_path: Path, procs: list[Proc]
) -> None:
    _, laptop = sims
    port = free_port()
    node = agent(
        "early",
        laptop.url,
        "--mdns-interface",
        "127.0.0.1",
        "--router-name",
        default_service_name(port),  # other suites may run routers on loopback meanwhile
    )
    procs.append(node)
    wait_until(lambda: "looking for the router" in node.output(), timeout=15, what="agent browsing")
    router = Router(tmp_path, "--mdns-interface", "127.0.0.1", *FAST, port=port)
    procs.append(router.proc)
    router.wait_ready()
    wait_until(lambda: router.status_of("early") == "online", timeout=20, what="found over mDNS")
    assert "found the router" in node.output()


def test_only_the_right_fleet_token_registers(
    sims: tuple[Sim, Sim], tmp_path: Path, procs: list[Proc]
) -> None:
    workstation, laptop = sims
    router = Router(tmp_path, "--no-mdns", env={"HERD_FLEET_TOKEN": "fleet-secret"})
    procs.append(router.proc)
    router.wait_ready()
    good = agent(
        "trusted",
        workstation.url,
        "--router-url",
        router.url,
        env={"HERD_FLEET_TOKEN": "fleet-secret"},
    )
    bad = agent("intruder", laptop.url, "--router-url", router.url, "--fleet-token", "guess")
    procs.extend([good, bad])
    wait_until(lambda: router.status_of("trusted") == "online", timeout=20, what="trusted online")
    wait_until(lambda: bad.output().count("refused the fleet token") >= 2, timeout=15, what="401s")
    assert "intruder" not in router.nodes()
    assert bad.alive()  # it keeps trying rather than giving up


def test_simulate_mode_reports_the_simulators_own_settings(
    tmp_path: Path, procs: list[Proc]
) -> None:
    router = Router(tmp_path, "--no-mdns")
    procs.append(router.proc)
    router.wait_ready()
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    node = Proc(
        python_module(
            "node",
            "--node-id",
            "simulated",
            "--simulate",
            "mini",
            "--sim-port",
            str(sim_port),
            "--time-scale",
            "0",
            "--router-url",
            router.url,
            "--interval",
            "0.2",
        ),
        env=CLEAN_ENV,
        name="agent-simulated",
    )
    procs.append(node)

    def reported() -> dict[str, Any] | None:
        if not node.alive():
            raise RuntimeError(f"agent exited:\n{node.output()}")
        view = router.nodes().get("simulated")
        return view if view and view["ollama"]["models_available"] else None

    view = wait_until(reported, timeout=20, what="simulated node online")
    state = get_json(f"{sim_url}/_sim/state")
    assert view["ollama"]["url"] == sim_url
    assert view["ollama"]["num_parallel"] == state["num_parallel"]
    assert view["ollama"]["max_loaded_models"] == state["max_loaded_models"]
    assert view["memory"]["total_gb"] == round(state["memory_total_bytes"] / 1e9, 3)
    assert {m["name"] for m in view["ollama"]["models_available"]} == set(state["available"])
    node.signal(signal.SIGTERM)
    assert node.wait_exit(timeout=5) == 0
    with pytest.raises(httpx.HTTPError):  # the agent stopped the simulator it started
        httpx.get(f"{sim_url}/api/version", timeout=1.0)
