"""The ``herd`` command: run the router, or ``herd demo`` for a router with a simulated fleet.

Parses flags into settings (flags beat environment beat defaults) and starts uvicorn. The demo
starts three simulated nodes as child processes and stops them all on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import uvicorn

from herd_contract.children import die_with_parent
from herd_contract.logs import configure_logging, stop_logging
from router import __version__
from router.config import DEFAULT_PORT, load_settings
from router.data_dir import data_dir_problem

CLIENT_COMMANDS = ("status", "ps", "list", "ls", "pull", "pulls", "rm", "traces", "health", "top")
DEMO_NODES = (("demo-workstation", "workstation"), ("demo-laptop", "laptop"), ("demo-mini", "mini"))
DEMO_BACKENDS = {"demo-workstation": "--sim-image", "demo-laptop": "--sim-speech"}
"""The demo node that also simulates an image server, and the one with a speech server."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="herd",
        description="Route Ollama and OpenAI requests across a fleet of Ollama nodes.",
        epilog="The fleet from the terminal: herd {status,ps,list,pull,pulls,rm,traces,health,top}"
        " (each takes --help).",
    )
    parser.add_argument("--version", action="version", version=f"herd {__version__}")
    sub = parser.add_subparsers(dest="command")
    _add_serve_flags(parser)
    demo = sub.add_parser("demo", help="run the router with three simulated nodes")
    _add_serve_flags(demo)
    demo.add_argument(
        "--time-scale", type=float, default=0.25, help="simulated speed (1 = real-world timings)"
    )
    serve = sub.add_parser("serve", help="run the router (the default)")
    _add_serve_flags(serve)
    return parser


def _add_serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="interface to listen on (HERD_HOST, default 0.0.0.0)")
    p.add_argument("--port", type=int, help=f"port (HERD_PORT, default {DEFAULT_PORT})")
    p.add_argument("--data-dir", help="database, logs, settings (HERD_DATA_DIR, ~/.fleet-manager)")
    p.add_argument("--fleet-token", help="secret nodes must send (HERD_FLEET_TOKEN)")
    p.add_argument("--no-mdns", dest="mdns", action="store_false", default=None)
    p.add_argument(
        "--mdns-interface",
        action="append",
        dest="mdns_interfaces",
        help="advertise only on this interface address (repeatable)",
    )
    p.add_argument("--heartbeat-interval", type=float, dest="heartbeat_interval_s")
    p.add_argument("--degraded-after", type=float, dest="degraded_after_s")
    p.add_argument("--offline-after", type=float, dest="offline_after_s")
    p.add_argument(
        "--require-address-approval",
        action="store_true",
        default=None,
        help="hold a node's change of address until the admin approves it",
    )
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--max-queue", type=int, dest="max_queue_per_model")
    p.add_argument("--reaper-timeout", type=float, dest="reaper_timeout_s")
    p.add_argument("--retention-days", type=int, dest="trace_retention_days")
    p.add_argument("--log-level")


_SETTING_KEYS = (
    "host",
    "port",
    "data_dir",
    "fleet_token",
    "mdns",
    "mdns_interfaces",
    "heartbeat_interval_s",
    "degraded_after_s",
    "offline_after_s",
    "require_address_approval",
    "max_body_bytes",
    "max_queue_per_model",
    "reaper_timeout_s",
    "trace_retention_days",
    "log_level",
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CLIENT_COMMANDS:
        from herd_cli import main as client_main  # the terminal client: HTTP only

        return client_main(argv)
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {k: getattr(args, k, None) for k in _SETTING_KEYS}
    if args.command == "demo":
        return _demo(args, overrides)
    return _serve(overrides)


def _serve(overrides: dict[str, Any]) -> int:
    from router.app import create_app

    settings = load_settings(overrides)
    problem = data_dir_problem(settings.resolved_data_dir)
    if problem is not None:
        print(
            f"herd: cannot use the data directory {settings.resolved_data_dir}: {problem}. "
            "Choose another with --data-dir (HERD_DATA_DIR) or free space on its disk.",
            file=sys.stderr,
        )
        return 2
    configure_logging(
        settings.log_path, settings.log_level, settings.log_max_bytes, settings.log_backups
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled once it has shut down cleanly
    finally:
        stop_logging()
    return 0 if server.started else 1


def _demo(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    overrides.setdefault("mdns_interfaces", None)
    if overrides.get("mdns_interfaces") is None and overrides.get("mdns") is not False:
        overrides["mdns_interfaces"] = ["127.0.0.1"]  # the demo never multicasts on real networks
    port = overrides.get("port") or DEFAULT_PORT
    overrides["port"] = port
    overrides["host"] = overrides.get("host") or "127.0.0.1"
    router_url = f"http://127.0.0.1:{port}"
    if not _port_free(overrides["host"], port):
        print(f"herd demo: port {port} is already in use; pick another with --port", flush=True)
        return 1
    children: list[subprocess.Popen[bytes]] = []
    base_sim_port = port + 100
    for index, (node_id, profile) in enumerate(DEMO_NODES):
        sim_port = base_sim_port + index
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "node",
                    "--simulate",
                    profile,
                    "--sim-port",
                    str(sim_port),
                    "--time-scale",
                    str(args.time_scale),
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
                    str(base_sim_port + 50 + index),
                    *([DEMO_BACKENDS[node_id]] if node_id in DEMO_BACKENDS else []),
                ],
                cwd=Path.cwd(),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        )
    print(
        f"""
herd demo: a router and three simulated Ollama nodes ({", ".join(p for _, p in DEMO_NODES)}).

  Fleet status      curl {router_url}/fleet/status
  Models            curl {router_url}/api/tags
  Chat (Ollama)     curl {router_url}/api/chat \\
                      -d '{{"model":"llama3.2:3b","messages":[{{"role":"user","content":"hi"}}]}}'
  Chat (OpenAI)     curl {router_url}/v1/chat/completions -H 'content-type: application/json' \\
                      -d '{{"model":"llama3.2:3b","messages":[{{"role":"user","content":"hi"}}]}}'
  Image             curl {router_url}/api/generate-image -o cat.png \\
                      -d '{{"model":"z-image-turbo","prompt":"a cat","width":512,"height":512}}'
  Transcribe        curl {router_url}/api/transcribe -F audio=@memo.wav
  Health            curl {router_url}/dashboard/api/health
  Traces            curl {router_url}/dashboard/api/traces?limit=5

Press Ctrl-C to stop everything.
""",
        flush=True,
    )
    try:
        return _serve(overrides)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will: connections of an earlier run in TIME_WAIT do not make it busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
