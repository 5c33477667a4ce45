"""Synthetic agents for ``bench.load``: many nodes heartbeating a router, in a process of their own.

Each node sends a heartbeat every ``--interval`` seconds, the nodes evenly staggered, with the node
key the router issued at its first heartbeat (as a real agent does). A few keep-alive connections
carry them, each a closed loop over its share of the nodes: when the router is slow the
heartbeats come late rather than pile up, so this process never competes with the router for the
CPU it measures. Its own process, so the stream clients of ``bench.load`` are not slowed by it.

Prints ``ready`` once every node has registered, then every half second ``sent failed late_ms``
(totals, and the worst lateness against the schedule in that half second). Runs until killed.
Run: ``python -m bench.load_heartbeats ROUTER_URL NODES INTERVAL_S SIM_URL [SIM_URL...]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

from bench.heartbeats import heartbeat
from bench.httpload import Connection

CONNECTIONS = 8
MODEL = "llama3.2:3b"
PATH = "/fleet/heartbeat"


class Agents:
    """The nodes, their bodies and keys, and what was sent."""

    def __init__(self, nodes: int, sim_urls: list[str]) -> None:
        self.bodies: dict[str, bytes] = {}
        for i in range(nodes):
            node_id = f"node-{i:03d}"
            beat = heartbeat(
                node_id,
                loaded=[(MODEL, 2.0)],
                memory_gb=64.0,
                available_gb=56.0,
                url=sim_urls[i % len(sim_urls)],
                num_parallel=4,
            )
            self.bodies[node_id] = beat.model_dump_json(exclude_none=True).encode()
        self.keys: dict[str, str] = {}
        self.sent = 0
        self.failed = 0
        self.late_s = 0.0

    async def send(self, connection: Connection, node_id: str) -> None:
        key = self.keys.get(node_id)
        headers = f"X-Herd-Node-Key: {key}\r\n" if key else ""
        try:
            result = await connection.post(PATH, self.bodies[node_id], headers, keep_body=not key)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.failed += 1
            await connection.close()
            connection.writer = None
            return
        self.sent += 1
        if result.status != 200:
            self.failed += 1
        elif not key:
            issued = json.loads(result.body).get("node_key")
            if issued:
                self.keys[node_id] = issued


async def register(agents: Agents, host: str, port: int) -> None:
    ids = list(agents.bodies)

    async def one_connection(share: list[str]) -> None:
        connection = Connection(host, port)
        try:
            for node_id in share:
                await agents.send(connection, node_id)
        finally:
            await connection.close()

    await asyncio.gather(*(one_connection(ids[i::CONNECTIONS]) for i in range(CONNECTIONS)))


async def beat_forever(agents: Agents, host: str, port: int, interval_s: float) -> None:
    ids = list(agents.bodies)
    spacing = interval_s / len(ids)
    start = time.perf_counter()

    async def one_connection(first: int) -> None:
        connection = Connection(host, port)
        for turn in range(10**9):  # bounded by the process being killed
            index = first + turn * CONNECTIONS
            due = start + index * spacing
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                agents.late_s = max(agents.late_s, -delay)
            await agents.send(connection, ids[index % len(ids)])

    await asyncio.gather(*(one_connection(i) for i in range(CONNECTIONS)))


async def report(agents: Agents) -> None:
    while True:
        await asyncio.sleep(0.5)
        print(f"{agents.sent} {agents.failed} {agents.late_s * 1000:.0f}", flush=True)
        agents.late_s = 0.0


async def main_async(router_url: str, nodes: int, interval_s: float, sims: list[str]) -> None:
    parts = urlsplit(router_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    agents = Agents(nodes, sims)
    await register(agents, host, port)
    missing = nodes - len(agents.keys)
    print("ready" if missing == 0 else f"{missing} nodes got no key", flush=True)
    await asyncio.gather(beat_forever(agents, host, port, interval_s), report(agents))


def main() -> None:
    router_url, nodes, interval_s, *sims = sys.argv[1:]
    asyncio.run(main_async(router_url, int(nodes), float(interval_s), sims))


if __name__ == "__main__":
    main()
