"""The ``herd-node`` command: parse flags, set up JSON logging, run the agent until a signal.

Owns the process edge of the node: flags -> ``NodeSettings``, structured JSON logs on stderr, the
SIGTERM/SIGINT handlers that make the agent send its draining heartbeat and exit 0, and, with
``--simulate PROFILE``, the Ollama simulator this agent reports (served in-process by uvicorn and
stopped with the agent). The one ``print`` of the node is the start-up line here; everything else
is a log record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import ValidationError

from herd_contract.logs import log_json_lines
from node import __version__
from node.agent import NodeAgent
from node.backends.inventory import Backends, BackendSpec, ConfigError, assemble
from node.config import SIM_PROFILES, NodeSettings, load_node_settings
from node.gateway import create_gateway
from node.sim import PROFILES, SimConfig, create_app

log = logging.getLogger("herd.node.cli")

SIM_READY_TIMEOUT_S = 30.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="herd-node",
        description="Report this device and its Ollama to the herd router.",
    )
    p.add_argument("--version", action="version", version=f"herd-node {__version__}")
    p.add_argument("--node-id", help="name of this node (HERD_NODE_NODE_ID, default: host name)")
    p.add_argument(
        "--ollama-host",
        help="this device's Ollama as the router should reach it (OLLAMA_HOST, "
        "default http://localhost:11434)",
    )
    p.add_argument("--router-url", help="router base URL; skips mDNS (HERD_NODE_ROUTER_URL)")
    p.add_argument("--router-name", help="only accept the mDNS router with this instance name")
    p.add_argument(
        "--interval",
        type=float,
        dest="interval_s",
        help="seconds between heartbeats (HERD_NODE_INTERVAL_S, default: router's advice, 5)",
    )
    p.add_argument("--fleet-token", help="the fleet's shared secret (HERD_FLEET_TOKEN)")
    p.add_argument(
        "--mdns-interface",
        action="append",
        dest="mdns_interfaces",
        help="browse only on this interface address, e.g. 127.0.0.1 (repeatable)",
    )
    p.add_argument("--discovery-timeout", type=float, dest="discovery_timeout_s")
    p.add_argument("--models-dir", help="Ollama's models directory (OLLAMA_MODELS)")
    p.add_argument(
        "--key-file",
        help="where to keep the node key the router issues (HERD_NODE_KEY_FILE, default "
        "~/.herd-node/<node id>.key)",
    )
    p.add_argument(
        "--simulate",
        metavar="PROFILE",
        choices=SIM_PROFILES,
        help=f"run the Ollama simulator and report it ({', '.join(SIM_PROFILES)})",
    )
    p.add_argument("--sim-port", type=int, help="simulator port (default 11434)")
    p.add_argument("--sim-host", help="simulator listen address (default 127.0.0.1)")
    p.add_argument("--time-scale", type=float, dest="sim_time_scale", help="simulator speed")
    p.add_argument(
        "--sim-memory-gb", type=float, help="simulated device memory (default: the profile's)"
    )
    p.add_argument("--log-level", help="debug, info, warning, error (default info)")
    p.add_argument("--data-dir", help="backends.json and job files (default ~/.fleet-manager)")
    p.add_argument(
        "--backend",
        action="append",
        dest="backends",
        metavar="KIND[/ADAPTER][=URL][#MODEL,...]",
        help="another backend on this device, e.g. openai=http://127.0.0.1:8080, "
        "image/openai=http://127.0.0.1:7860#sdxl, stt/qwen3-asr (repeatable)",
    )
    p.add_argument(
        "--no-discover-backends",
        dest="discover_backends",
        action="store_const",
        const=False,
        help="do not add mflux or Qwen3-ASR found on PATH",
    )
    p.add_argument("--gateway-host", help="job gateway listen address (default 0.0.0.0)")
    p.add_argument("--gateway-port", type=int, help="job gateway port (default 11436)")
    p.add_argument(
        "--sim-models",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="comma-separated models on the simulator's disk (default: the profile's; "
        "+name,+name: the profile's and these)",
    )
    p.add_argument(
        "--sim-image", action="store_const", const=True, help="simulate an image server too"
    )
    p.add_argument(
        "--sim-speech", action="store_const", const=True, help="simulate a Qwen3-ASR server too"
    )
    return p


_KEYS = (
    "node_id",
    "ollama_host",
    "router_url",
    "router_name",
    "interval_s",
    "fleet_token",
    "mdns_interfaces",
    "discovery_timeout_s",
    "models_dir",
    "key_file",
    "simulate",
    "sim_port",
    "sim_host",
    "sim_time_scale",
    "sim_memory_gb",
    "log_level",
    "data_dir",
    "backends",
    "discover_backends",
    "gateway_host",
    "gateway_port",
    "sim_image",
    "sim_speech",
    "sim_models",
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {key: getattr(args, key, None) for key in _KEYS}
    try:
        settings = load_node_settings(overrides)
    except ValidationError as exc:
        print(f"herd-node: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    log_json_lines(sys.stderr, settings.log_level)
    target = settings.router_url or "the router found over mDNS"
    print(
        f"herd-node {__version__}: node {settings.node_id} reporting Ollama at "
        f"{settings.ollama_url} to {target}",
        flush=True,
    )
    try:
        return asyncio.run(run(settings))
    except KeyboardInterrupt:  # a signal before the handlers were installed
        return 0


def build_backends(settings: NodeSettings) -> Backends:
    """The node's backends from flags, ``backends.json``, installed programs and the simulator."""
    data_dir = Path(settings.data_dir).expanduser()
    specs = assemble(settings.backends, data_dir, discover_programs=settings.discover_backends)
    if settings.simulate is not None and settings.sim_image:
        from node.sim.media import IMAGE_MODELS

        specs.append(
            BackendSpec(kind="image", adapter="openai", url=settings.ollama_url,
                        models=list(IMAGE_MODELS))
        )  # fmt: skip
    if settings.simulate is not None and settings.sim_speech:
        specs.append(BackendSpec(kind="stt", adapter="qwen3-asr", url=settings.ollama_url))
    return Backends(specs, data_dir)


async def run(settings: NodeSettings) -> int:
    """Run the agent (and the simulator, if asked) until SIGTERM/SIGINT; the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        backends = build_backends(settings)
    except ConfigError as exc:
        log.error("invalid backend configuration", extra={"error": str(exc)})
        return 2
    simulator: Simulator | None = None
    gateway: _Served | None = None
    try:
        if settings.simulate is not None:
            simulator = Simulator(settings)
            if not await simulator.start(stop):
                return 0 if stop.is_set() else 1
        await backends.start()
        gateway = await start_gateway(backends, settings)
        agent = NodeAgent(settings, backends=backends)
        await agent.run(stop)
        return 0
    finally:
        if gateway is not None:
            await gateway.stop()
        if simulator is not None:
            await simulator.stop()
        await backends.aclose()
        log.info("herd-node stopped", extra={"node_id": settings.node_id})


async def start_gateway(backends: Backends, settings: NodeSettings) -> _Served | None:
    """The job gateway in front of the image and speech backends, when there are any. When it
    cannot listen, those backends are reported unreachable with the reason (the router could not
    reach them) and the agent goes on for the rest."""
    if not backends.serves_jobs:
        return None
    app = create_gateway(backends, settings.fleet_token, settings.gateway_url)
    gateway = _Served(app, settings.gateway_host, settings.gateway_port, "herd-gateway")
    if await gateway.start():
        log.info("job gateway listening", extra={"url": settings.gateway_url})
        return gateway
    backends.gateway_down = (
        f"the node's job gateway cannot listen on {settings.gateway_host}:"
        f"{settings.gateway_port} ({gateway.error or 'it did not start'})"
    )
    log.error(
        "no job gateway: this node's image and speech backends are reported unreachable",
        extra={"port": settings.gateway_port, "error": gateway.error},
    )
    return gateway


# --- the simulator ------------------------------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the agent."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        return


class _Served:
    """An ASGI app served by uvicorn inside the agent's event loop."""

    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="auto"
        )
        self.server = _QuietServer(config)
        self.name = name
        self.task: asyncio.Task[None] | None = None
        self.error = ""
        """Why it does not listen, when binding failed."""

    async def start(self) -> bool:
        """Listen and serve; False (logged) when the address cannot be bound. Binding here
        rather than in uvicorn keeps a taken port from exiting the whole agent."""
        config = self.server.config
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((config.host, config.port))
        except OSError as exc:
            sock.close()
            self.error = str(exc)
            log.error(
                "cannot listen", extra={"server": self.name, "port": config.port, "error": str(exc)}
            )
            return False
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]), name=self.name)
        for _ in range(200):
            if self.server.started or self.task.done():
                break
            await asyncio.sleep(0.025)
        return self.server.started

    async def stop(self) -> None:
        if self.task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=3.0)
        except (TimeoutError, Exception):
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


class Simulator:
    """The Ollama simulator behind ``--simulate``, served in-process by uvicorn."""

    def __init__(self, settings: NodeSettings) -> None:
        assert settings.simulate is not None
        self.settings = settings
        self.profile = settings.simulate
        self.url = settings.ollama_url
        self._served: _Served | None = None

    async def start(self, stop: asyncio.Event) -> bool:
        settings = self.settings
        models = settings.sim_models
        if models and all(name.startswith("+") for name in models):
            models = [*PROFILES[self.profile].models, *(name[1:] for name in models)]
        sim = SimConfig(profile=self.profile, memory_gb=settings.sim_memory_gb, models=models)
        if settings.sim_time_scale is not None:
            sim.time_scale = settings.sim_time_scale
        self._served = _Served(create_app(sim), settings.sim_host, settings.sim_port, "herd-sim")
        await self._served.start()
        log.info("starting the Ollama simulator", extra={"profile": self.profile, "url": self.url})
        ready = await self._wait_ready(stop)
        if not ready and not stop.is_set():
            log.error("the simulator did not start", extra={"url": self.url})
        return ready

    def _gone(self) -> bool:
        return self._served is None or self._served.task is None or self._served.task.done()

    async def _wait_ready(self, stop: asyncio.Event) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SIM_READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while loop.time() < deadline and not stop.is_set() and not self._gone():
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/api/version")).status_code == 200:
                        return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.1)
        return False

    async def stop(self) -> None:
        if self._served is not None:
            await self._served.stop()
