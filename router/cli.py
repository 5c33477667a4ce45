"""The ``herd`` command: run the router, ``herd demo`` for a router with a simulated fleet, or a
terminal client command (``herd status``...), handed to ``herd_cli``.

Parses flags into settings overrides (flags beat environment beat defaults) and hands them to
``router.server`` (the router) or ``router.demo`` (the demo).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from router import __version__
from router.config import DEFAULT_PORT
from router.demo import run_demo
from router.server import serve

CLIENT_COMMANDS = ("status", "ps", "list", "ls", "pull", "pulls", "rm", "traces", "health", "top")


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
    p.add_argument(
        "--data-dir",
        help="database, logs, settings (HERD_DATA_DIR, ~/.fleet-manager; the demo: a new temp dir)",
    )
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
    p.add_argument(
        "--no-restore-evicted",
        action="store_false",
        default=None,
        dest="restore_evicted",
        help="never load an evicted model back by itself (the restore_evicted toggle)",
    )
    p.add_argument(
        "--no-resume-streams",
        action="store_false",
        default=None,
        dest="resume_streams",
        help="end a stream whose node fails mid-answer with an error instead of going on "
        "on another node (the resume_streams toggle)",
    )
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
    "restore_evicted",
    "resume_streams",
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
        return run_demo(args.time_scale, overrides)
    return serve(overrides)
