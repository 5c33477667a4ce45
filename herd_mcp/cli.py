"""The ``herd-mcp`` command: flags and environment into a running MCP server.

stdio by default (what Claude Desktop and Claude Code launch); ``--http`` serves streamable HTTP on
127.0.0.1, checks ``Origin``, and refuses to listen anywhere else without a bearer token
(``--token`` / ``HERD_MCP_TOKEN``). Router keys come from ``HERD_API_KEY`` / ``HERD_ADMIN_KEY``.
Logs go to stderr: stdout belongs to the MCP protocol on stdio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from herd_mcp.client import DEFAULT_ROUTER_URL, RouterClient
from herd_mcp.server import build_server
from herd_mcp.web import LOOPBACK_ORIGINS, AccessGate, is_loopback

DEFAULT_HTTP_PORT = 11436


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="herd-mcp", description="MCP server for a herd fleet (stdio unless --http)."
    )
    p.add_argument(
        "--router-url",
        default=os.environ.get("HERD_ROUTER_URL") or DEFAULT_ROUTER_URL,
        help=f"the router (HERD_ROUTER_URL, default {DEFAULT_ROUTER_URL})",
    )
    p.add_argument(
        "--read-only", action="store_true", help="register no tool that changes the fleet"
    )
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP interface (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_HTTP_PORT, help="HTTP port")
    p.add_argument(
        "--token",
        default=os.environ.get("HERD_MCP_TOKEN") or None,
        help="bearer token HTTP clients must send (HERD_MCP_TOKEN); required off loopback",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        help="extra Origin allowed over HTTP (repeatable); loopback origins always are",
    )
    p.add_argument("--log-level", default="WARNING")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    client = RouterClient(
        args.router_url,
        api_key=os.environ.get("HERD_API_KEY") or None,
        admin_key=os.environ.get("HERD_ADMIN_KEY") or None,
    )
    server = build_server(client, read_only=args.read_only)
    if not args.http:
        server.run("stdio")
        return 0
    if not is_loopback(args.host) and not args.token:
        print(
            f"herd-mcp: refusing to serve HTTP on {args.host} without a bearer token; "
            "set --token or HERD_MCP_TOKEN (or bind 127.0.0.1).",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    app = server.streamable_http_app(host=args.host)
    gated = AccessGate(
        app, token=args.token, allowed_origins=(*LOOPBACK_ORIGINS, *args.allow_origin)
    )
    config = uvicorn.Config(
        gated, host=args.host, port=args.port, log_level="warning", lifespan="on"
    )
    print(f"herd-mcp: streamable HTTP on http://{args.host}:{args.port}/mcp", file=sys.stderr)
    asyncio.run(uvicorn.Server(config).serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
