"""``herd demo``: one command brings up a router and three simulated nodes, Ctrl-C ends them all."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path

import httpx
import pytest

from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e


def start_demo(
    data_dir: Path | None, name: str, env: dict[str, str] | None = None
) -> tuple[Proc, str, dict]:
    """``herd demo`` on a free port, once its router answers and its three nodes are online."""
    port = free_port()
    flags = ["--data-dir", str(data_dir)] if data_dir is not None else []
    demo = Proc(python_module("router", "demo", "--port", str(port), *flags), env=env, name=name)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/fleet/status", demo, timeout=60)
        status = wait_until(
            lambda: (
                (s := httpx.get(f"{url}/fleet/status").json())["fleet"]["nodes_online"] == 3 and s
            ),
            timeout=60,
            what="three demo nodes online",
        )
    except BaseException:
        print(demo.output()[-4000:])  # the router's and the nodes' own words, when they did not
        demo.stop()
        raise
    return demo, url, status


def test_demo_runs_a_fleet_and_stops_it_cleanly(tmp_path: Path) -> None:
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    demo, url, status = start_demo(None, "demo", env={"HOME": str(home), "TMPDIR": str(temp)})
    try:
        describe_the_demo(demo, url, status, home, temp)
        assert {n["node_id"] for n in status["nodes"]} == {
            "demo-workstation",
            "demo-laptop",
            "demo-mini",
        }
        sim_urls = [n["ollama_url"] for n in status["nodes"]]
        reply = httpx.post(
            f"{url}/api/chat",
            json={"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert reply.status_code == 200 and reply.headers["X-Fleet-Node"].startswith("demo-")
        assert "Fleet status" in demo.output()
        demo.signal(signal.SIGINT)
        assert demo.wait_exit(timeout=20) == 0
        for sim_url in sim_urls:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{sim_url}/api/version", timeout=2)
    finally:
        demo.stop()


def describe_the_demo(demo: Proc, url: str, status: dict, home: Path, temp: Path) -> None:
    """Its own data directory, printed; the nodes, their devices and models; the simulator's
    time scale, SKILL.md and herd-mcp; simulated hardware; no open-fleet finding on loopback."""
    text = wait_until(
        lambda: (out := demo.output()).count("models: ") == 3 and out,
        timeout=60,
        what="the demo to describe its nodes",
    )
    [data_dir] = list(temp.glob("herd-demo-*"))
    assert f"Data directory    {data_dir}" in text
    assert (data_dir / "latency.db").exists()
    assert not (home / ".fleet-manager").exists()
    assert "time scale 0.25" in text
    assert "skills/ollama-herd/SKILL.md" in text
    assert f"herd-mcp --router-url {url}" in text
    listing = text.split("Nodes (simulated devices):\n", 1)[1].splitlines()
    described = {
        line.split()[0]: models
        for line, models in itertools.pairwise(listing)
        if line.startswith("  demo-")
    }
    assert set(described) == {"demo-workstation", "demo-laptop", "demo-mini"}
    assert "llama3.3:70b" in described["demo-workstation"]
    assert "llama3.3:70b" not in described["demo-mini"]
    assert "images through its Ollama: x/flux2-klein:latest" in described["demo-mini"]
    assert "Simulated M-Ultra, 24 cores" in text
    nodes = {n["node_id"]: n for n in status["nodes"]}
    workstation, mini = nodes["demo-workstation"], nodes["demo-mini"]
    assert workstation["hardware"]["cpu_model"] == "Simulated M-Ultra"
    assert workstation["hardware"]["platform"] == "darwin"
    assert workstation["cpu"]["cores"] == 24
    assert workstation["disk"]["total_gb"] == 2000
    assert mini["hardware"]["cpu_model"] == "Simulated mini PC" and mini["cpu"]["cores"] == 8
    assert mini["memory"]["total_gb"] == 17.18  # 16 GiB
    health = httpx.get(f"{url}/dashboard/api/health", timeout=10).json()
    assert [c for c in health["checks"] if c["check_id"] == "open_fleet"] == []


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    port = free_port()
    url, holder = (
        f"http://127.0.0.1:{port}",
        Proc(python_module("node.sim", "--port", str(port), "--profile", "mini"), name="holder"),
    )
    try:
        wait_http_ok(f"{url}/api/version", holder)
        demo = Proc(
            python_module("router", "demo", "--port", str(port), "--data-dir", str(tmp_path)),
            name="demo-busy",
        )
        assert demo.wait_exit(timeout=20) == 1
        assert "already in use" in demo.output()
    finally:
        holder.stop()


def test_demo_nodes_do_not_outlive_a_killed_demo(tmp_path: Path) -> None:
    demo, _url, status = start_demo(tmp_path, "demo-killed")
    try:
        sim_urls = [n["ollama_url"] for n in status["nodes"]]
        demo.kill()  # SIGKILL: no chance to stop its children itself

        def all_gone() -> bool:
            for sim_url in sim_urls:
                try:
                    httpx.get(f"{sim_url}/api/version", timeout=1)
                except httpx.ConnectError:
                    continue
                return False
            return True

        wait_until(all_gone, timeout=20, what="the demo's nodes to exit")
    finally:
        demo.stop()
