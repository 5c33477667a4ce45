"""The client subcommands of ``herd``: parse the command line, call the router, print.

Exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 router unreachable. ``--json`` on every
read command prints the API's JSON unchanged, for scripts and agents.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from herd_cli import pull, views
from herd_cli.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, RouterClient
from herd_cli.render import table
from herd_cli.terminal import Terminal, refresh

Handler = Callable[[argparse.Namespace, RouterClient, Terminal], int]
COMMANDS = ("status", "ps", "list", "ls", "pull", "pulls", "rm", "traces", "health", "top")


def _status(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    def draw() -> list[str]:
        status = client.get("/fleet/status")
        health = client.get("/dashboard/api/health")
        return views.status_lines(status, health, term.width)

    if args.json:
        return _print_json(term, client.get("/fleet/status"))
    if args.watch:
        refresh(draw, term, args.interval, args.count)
        return EXIT_OK
    term.print(*draw())
    return EXIT_OK


def _table_command(
    build: Callable[[dict[str, Any], float], tuple[list[str], list[list[str]]]], empty: str
) -> Handler:
    def run(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
        status = client.get("/fleet/status")
        if args.json:
            return _print_json(term, status)
        headers, rows = build(status, time.time())
        term.print(*table(headers, rows, term.width))
        if not rows:
            term.print(empty)
        return EXIT_OK

    return run


def _traces(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    params = {
        "limit": args.n,
        "model": args.model,
        "node_id": args.node,
        "status": args.status,
        "tag": args.tag,
    }
    answer = client.get("/dashboard/api/traces", params)
    if args.json:
        return _print_json(term, answer)
    headers, rows = views.traces_rows(answer.get("traces") or [], time.time())
    term.print(*table(headers, rows, term.width))
    if not rows:
        term.print("No requests recorded yet for this filter.")
    return EXIT_OK


def _health(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    report = client.get("/dashboard/api/health")
    if args.json:
        return _print_json(term, report)
    term.print(*views.health_lines(report, term.width))
    return EXIT_OK


def _top(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    if args.json:
        return _print_json(term, client.get("/fleet/status").get("queues", {}))

    def draw() -> list[str]:
        status = client.get("/fleet/status")
        headers, rows = views.top_rows(status)
        lines = [views.fleet_summary(status), "", *table(headers, rows, term.width)]
        return lines if rows else [*lines, "No requests yet."]

    refresh(draw, term, args.interval, args.count)
    return EXIT_OK


def _print_json(term: Terminal, value: Any) -> int:
    term.print(json.dumps(value, indent=2))
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herd", description="The fleet from the terminal.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Handler, help: str, reads: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        p.add_argument("--router-url", help="the router (HERD_ROUTER_URL, http://localhost:11435)")
        if reads:
            p.add_argument("--json", action="store_true", help="print the API's JSON unchanged")
        return p

    def live(p: argparse.ArgumentParser) -> None:
        p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
        p.add_argument("--count", type=int, help="stop after this many refreshes")

    status = command("status", _status, "the fleet at a glance: nodes, memory, load, health")
    status.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    live(status)
    ps = _table_command(views.ps_rows, "No model is loaded anywhere.")
    command("ps", ps, "loaded models, like `ollama ps`, with the node holding each")
    models = _table_command(views.list_rows, "No node has a model yet: `herd pull MODEL`.")
    command("list", models, "models on disk, like `ollama list`, with their node")
    command("ls", models, "alias of `herd list`")
    pull.add_commands(command)
    traces = command("traces", _traces, "recent requests: where they went and how they ended")
    traces.add_argument("--model")
    traces.add_argument("--node")
    traces.add_argument("--status")
    traces.add_argument("--tag")
    traces.add_argument("-n", type=int, default=20, help="how many (default 20)")
    command("health", _health, "the health score, vitals and every finding with its fix")
    live(command("top", _top, "live requests per node and model, refreshing until Ctrl-C"))
    return parser


def main(argv: list[str] | None = None, term: Terminal | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error is 2
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    term = term or Terminal()
    client = RouterClient(args.router_url)
    try:
        code: int = args.handler(args, client, term)
        return code
    except CliError as exc:
        print(f"herd {args.command}: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:  # `herd list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        client.close()
