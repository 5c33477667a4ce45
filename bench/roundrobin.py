"""The routing-quality baselines: minimal, honest round-robin and least-connections proxies.

Owns one thing: forwarding ``POST /api/chat`` and ``POST /api/generate`` to a fixed list of Ollama
servers, streaming the upstream bytes back untouched (status, content type and body), by one of
two classic policies:

- ``round-robin``, the fair variant: at start it reads each upstream's ``/api/tags`` once, and
  request ``i`` goes to the first node, starting at ``i mod N`` and moving on in order, whose disk
  holds the requested model (a node that lacks it would only answer 404);
- ``least-connections``: among the nodes whose disk holds the model, the one with the fewest
  requests open through this proxy right now (ties in turn, as round-robin).

Beyond that static list both are blind: no knowledge of memory, loaded (hot) models, speed or
conversations. When no node has the model, a request goes to ``i mod N`` anyway and the upstream
error is passed through. Neither retries, rewrites a body or substitutes a model. Run:
``python -m bench.roundrobin [--policy least-connections] --port P --upstream URL --upstream ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from herd_contract.model_names import normalize

TAGS_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=30.0, pool=30.0)


POLICIES = ("round-robin", "least-connections")


class RoundRobin:
    """The upstream list, what each one holds on disk, the request counter and open requests."""

    def __init__(self, upstreams: list[str], policy: str = "round-robin") -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; one of {POLICIES}")
        self.policy = policy
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self.on_disk: list[set[str]] = [set() for _ in self.upstreams]
        self.open: list[int] = [0 for _ in self.upstreams]
        """Requests open through this proxy, per upstream (least-connections reads it)."""
        self._counter = itertools.count()
        self.client = httpx.AsyncClient(
            timeout=UPSTREAM_TIMEOUT,
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256),
        )

    async def learn_models(self) -> None:
        """Read every upstream's ``/api/tags`` once (the only thing this balancer knows)."""
        for index, url in enumerate(self.upstreams):
            response = await self.client.get(f"{url}/api/tags", timeout=TAGS_TIMEOUT_S)
            response.raise_for_status()
            self.on_disk[index] = {normalize(m["name"]) for m in response.json().get("models", [])}

    def pick(self, model: str) -> int:
        """The upstream for the next request for ``model``, by the policy."""
        start = next(self._counter) % len(self.upstreams)
        key = normalize(model) if model else ""
        holders = [
            (start + step) % len(self.upstreams)
            for step in range(len(self.upstreams))
            if key in self.on_disk[(start + step) % len(self.upstreams)]
        ]
        if not holders:
            return start
        if self.policy == "least-connections":
            return min(holders, key=lambda index: self.open[index])  # first in turn on a tie
        return holders[0]


def create_app(upstreams: list[str], policy: str = "round-robin") -> Starlette:
    rr = RoundRobin(upstreams, policy)

    async def forward(request: Request) -> Response:
        body = await request.body()
        try:
            payload: Any = json.loads(body or b"{}")
        except ValueError:
            return JSONResponse({"error": "invalid JSON body"}, status_code=400)
        model = payload.get("model", "") if isinstance(payload, dict) else ""
        index = rr.pick(str(model))
        upstream = rr.client.build_request(
            "POST",
            f"{rr.upstreams[index]}{request.url.path}",
            content=body,
            headers={"content-type": "application/json"},
        )
        rr.open[index] += 1
        try:
            reply = await rr.client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            rr.open[index] -= 1
            return JSONResponse({"error": f"upstream unreachable: {exc}"}, status_code=502)
        headers = {"X-Fleet-Node": str(index)}

        def closed() -> None:
            rr.open[index] -= 1

        return StreamingResponse(
            _passthrough(reply, closed),
            status_code=reply.status_code,
            media_type=reply.headers.get("content-type"),
            headers=headers,
            background=BackgroundTask(reply.aclose),
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await rr.learn_models()
        try:
            yield
        finally:
            await rr.client.aclose()

    async def health(_request: Request) -> Response:
        return JSONResponse(
            {
                "policy": rr.policy,
                "upstreams": rr.upstreams,
                "models": [sorted(s) for s in rr.on_disk],
                "open": rr.open,
            }
        )

    return Starlette(
        routes=[
            Route("/api/chat", forward, methods=["POST"]),
            Route("/api/generate", forward, methods=["POST"]),
            Route("/_rr", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def _passthrough(reply: httpx.Response, closed: Callable[[], None]) -> AsyncIterator[bytes]:
    try:
        async for chunk in reply.aiter_raw():
            yield chunk
    finally:
        closed()
        await reply.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roundrobin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", required=True, help="repeatable")
    parser.add_argument("--policy", choices=POLICIES, default="round-robin")
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        create_app(args.upstream, args.policy),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    asyncio.run(uvicorn.Server(config).serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
