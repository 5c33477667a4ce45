"""``herd demo``: a router on loopback and three simulated nodes, in a data directory of their own.

Owns the demo's set-up: its data directory (a fresh temporary one unless ``--data-dir`` names one,
so the demo never writes into the real ``~/.fleet-manager``), the three ``herd-node --simulate``
children (they die with the demo, even when it is killed), the banner (where the data goes, the
simulator's time scale, where SKILL.md is and how to start herd-mcp, calls to try) and, once the
nodes have joined, which node is which device and holds which models. The router is the ordinary
one (``router.server.serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from herd_contract.children import die_with_parent
from herd_contract.units import to_gb
from router.config import DEFAULT_PORT
from router.server import serve

if TYPE_CHECKING:
    from router.parts import AppParts

DEMO_NODES = (("demo-workstation", "workstation"), ("demo-laptop", "laptop"), ("demo-mini", "mini"))
DEMO_BACKENDS = {
    "demo-workstation": ("--sim-image",),
    "demo-laptop": ("--sim-speech",),
    "demo-mini": ("--sim-models", "+x/flux2-klein"),
}
"""The demo node that also simulates an image server, the one with a speech server, and the one
whose Ollama has an image model of its own."""
SKILL_PATH = Path(__file__).resolve().parents[1] / "skills" / "ollama-herd" / "SKILL.md"
JOIN_TIMEOUT_S = 90.0
"""How long the demo waits for its nodes before it describes the fleet without the missing ones."""


def demo_data_dir(given: str | None) -> Path:
    """The directory the demo writes to: the one given, else a new temporary one."""
    if given:
        return Path(given).expanduser()
    return Path(tempfile.mkdtemp(prefix="herd-demo-"))


def run_demo(time_scale: float, overrides: dict[str, Any]) -> int:
    """Run the demo until Ctrl-C; the exit code."""
    overrides.setdefault("mdns_interfaces", None)
    if overrides.get("mdns_interfaces") is None and overrides.get("mdns") is not False:
        overrides["mdns_interfaces"] = ["127.0.0.1"]  # the demo never multicasts on real networks
    port = overrides.get("port") or DEFAULT_PORT
    overrides["port"] = port
    overrides["host"] = overrides.get("host") or "127.0.0.1"
    if not _port_free(overrides["host"], port):
        print(f"herd demo: port {port} is already in use; pick another with --port", flush=True)
        return 1
    data_dir = demo_data_dir(overrides.get("data_dir"))
    overrides["data_dir"] = str(data_dir)
    router_url = f"http://127.0.0.1:{port}"
    children = [
        _start_node(node_id, profile, index, port, time_scale, router_url)
        for index, (node_id, profile) in enumerate(DEMO_NODES)
    ]
    print(banner(router_url, data_dir, time_scale), flush=True)

    async def describe(parts: AppParts) -> None:
        print(await fleet_text(parts, time_scale), flush=True)

    try:
        return serve(overrides, on_started=describe)
    finally:
        _stop(children)


def _start_node(
    node_id: str, profile: str, index: int, port: int, time_scale: float, router_url: str
) -> subprocess.Popen[bytes]:
    sim_port = _free_port_from(port + 100 + 10 * index)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
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
            router_url,
            "--interval",
            "2",
            "--log-level",
            "warning",
            "--no-discover-backends",
            "--gateway-host",
            "127.0.0.1",
            "--gateway-port",
            str(_free_port_from(port + 150 + 10 * index)),
            *DEMO_BACKENDS.get(node_id, ()),
        ],
        cwd=Path.cwd(),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)


def _speed(time_scale: float) -> str:
    if time_scale <= 0:
        return "time scale 0: the simulated nodes never wait (answers are instant)"
    if time_scale == 1:
        return "time scale 1: the simulated nodes take as long as the real devices would"
    return (
        f"time scale {time_scale:g}: the simulated nodes take {time_scale:g}x the real devices' "
        "time (--time-scale 1 for real-world timings)"
    )


def banner(router_url: str, data_dir: Path, time_scale: float) -> str:
    """What the demo prints at start: where things are and what to try."""
    skill = (
        str(SKILL_PATH)
        if SKILL_PATH.exists()
        else "skills/ollama-herd/SKILL.md in the herd repository"
    )
    chat = '{"model":"llama3.2:3b","messages":[{"role":"user","content":"hi"}]}'
    image = '{"model":"z-image-turbo","prompt":"a cat","width":512,"height":512}'
    return f"""
herd demo: a router and three simulated Ollama nodes ({", ".join(p for _, p in DEMO_NODES)}).

  Data directory    {data_dir}  (traces, settings, logs; not ~/.fleet-manager)
  Simulator         {_speed(time_scale)}
  Agent skill       {skill}
  MCP server        herd-mcp --router-url {router_url}   (stdio; --http to serve over HTTP)
  Dashboard         {router_url}/dashboard

  Fleet status      curl {router_url}/fleet/status
  Models            curl {router_url}/api/tags
  Chat (Ollama)     curl {router_url}/api/chat -d '{chat}'
  Chat (OpenAI)     curl {router_url}/v1/chat/completions -H 'content-type: application/json' \\
                      -d '{chat}'
  Image             curl {router_url}/api/generate-image -o cat.png -d '{image}'
  Transcribe        curl {router_url}/api/transcribe -F audio=@memo.wav
  Health            curl {router_url}/dashboard/api/health
  Traces            curl {router_url}/dashboard/api/traces?limit=5

Press Ctrl-C to stop everything.
"""


async def fleet_text(parts: AppParts, time_scale: float, poll_s: float = 0.5) -> str:
    """Once every demo node has sent its models (or after ``JOIN_TIMEOUT_S``), each node's id,
    simulated device and models."""
    wanted = [node_id for node_id, _ in DEMO_NODES]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JOIN_TIMEOUT_S
    while loop.time() < deadline:
        records = {r.node_id: r for r in parts.registry.records()}
        if all(n in records and records[n].heartbeat.ollama.models_available for n in wanted):
            break
        await asyncio.sleep(poll_s)
    records = {r.node_id: r for r in parts.registry.records()}
    lines = ["Nodes (simulated devices):"]
    for node_id, profile in DEMO_NODES:
        record = records.get(node_id)
        if record is None:
            lines.append(f"  {node_id:<17} ({profile}) has not joined yet")
            continue
        hb = record.heartbeat
        disk = f", {to_gb(hb.disk.total_bytes, 0):g} GB disk" if hb.disk is not None else ""
        lines.append(
            f"  {node_id:<17} {profile}: {hb.hardware.cpu_model}, {hb.cpu.cores} cores, "
            f"{to_gb(hb.memory.total_bytes, 1):g} GB memory{disk}"
        )
        models = sorted(m.name for m in hb.ollama.models_available)
        images = sorted(record.ollama_image_models)
        extra = f"; images through its Ollama: {', '.join(images)}" if images else ""
        lines.append(f"  {'':<17} models: {', '.join(models)}{extra}")
    return "\n".join(lines) + "\n"


def _free_port_from(start: int) -> int:
    """The first port from ``start`` that nothing listens on (of the next ten; else one the
    system picks): the derived ports of the nodes may be taken by other programs."""
    for candidate in range(start, min(start + 10, 65536)):
        if _port_free("127.0.0.1", candidate):
            return candidate
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will: connections of an earlier run in TIME_WAIT do not make it busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
