"""``herd demo``: one command brings up a router and three simulated nodes, Ctrl-C ends them all."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e


def start_demo(data_dir: Path, name: str) -> tuple[Proc, str, dict]:
    """``herd demo`` on a free port, once its router answers and its three nodes are online."""
    port = free_port()
    demo = Proc(
        python_module("router", "demo", "--port", str(port), "--data-dir", str(data_dir)),
        name=name,
    )
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
        demo.stop()
        raise
    return demo, url, status


def test_demo_runs_a_fleet_and_stops_it_cleanly(tmp_path: Path) -> None:
    demo, url, status = start_demo(tmp_path, "demo")
    try:
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
