"""The heartbeat loop against a tiny Starlette stand-in for the router (in memory, no sockets)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from herd_contract.heartbeat import CpuInfo, HardwareInfo, Heartbeat, MemoryInfo
from herd_contract.units import GIB
from node.agent import NodeAgent, Outcome
from node.collectors import OllamaKnobs, OllamaSnapshot, SystemSnapshot
from node.config import load_node_settings

BOUND_S = 10.0  # every test's loop is bounded by this


@dataclass
class StubRouter:
    """Accepts heartbeats like the real router: validates them, checks the token, answers."""

    token: str | None = None
    advised_interval: float = 5.0
    heartbeats: list[Heartbeat] = field(default_factory=list)
    refused: int = 0
    got: asyncio.Event = field(default_factory=asyncio.Event)
    wanted: int = 1

    def app(self) -> Starlette:
        async def heartbeat(request: Request) -> JSONResponse:
            if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
                self.refused += 1
                if self.refused >= self.wanted:
                    self.got.set()
                return JSONResponse({"error": "invalid fleet token"}, status_code=401)
            try:
                beat = Heartbeat.model_validate(await request.json())
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
            self.heartbeats.append(beat)
            if len(self.heartbeats) >= self.wanted:
                self.got.set()
            return JSONResponse(
                {
                    "ok": True,
                    "node_id": beat.node_id,
                    "status": "online",
                    "router_version": "stub",
                    "heartbeat_interval_s": self.advised_interval,
                }
            )

        return Starlette(routes=[Route("/fleet/heartbeat", heartbeat, methods=["POST"])])


class Routed(httpx.AsyncBaseTransport):
    """Sends requests for ``live`` hosts to the stub app; every other host refuses connections."""

    def __init__(self, app: Starlette, live: set[str]) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.live = live
        self.attempts: list[str] = []
        self.five_attempts = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(request.url.host)
        if len(self.attempts) >= 5:
            self.five_attempts.set()
        if request.url.host not in self.live:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


class FakeSystem:
    def collect(self) -> SystemSnapshot:
        return SystemSnapshot(
            hardware=HardwareInfo(hostname="stub", memory_bytes=32 * GIB),
            cpu=CpuInfo(cores=4, utilization_pct=10),
            memory=MemoryInfo(total_bytes=32 * GIB, used_bytes=8 * GIB, available_bytes=24 * GIB),
            disk=None,
        )


class FakeOllama:
    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable
        self.closed = False

    async def read(self) -> OllamaSnapshot:
        return OllamaSnapshot(
            reachable=self.reachable, version="0.6.1", knobs=OllamaKnobs(num_parallel=2)
        )

    async def aclose(self) -> None:
        self.closed = True


def make_agent(transport: httpx.AsyncBaseTransport, discover=None, **overrides) -> NodeAgent:
    settings = load_node_settings({"node_id": "unit-node", **overrides}, environ={})
    kwargs = {"discover": discover} if discover is not None else {}
    return NodeAgent(
        settings, system=FakeSystem(), ollama=FakeOllama(), transport=transport, **kwargs
    )


async def run_until(agent: NodeAgent, event: asyncio.Event) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.wait_for(event.wait(), BOUND_S)
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND_S)


async def test_heartbeats_carry_the_token_and_end_with_draining() -> None:
    stub = StubRouter(token="s3cret", wanted=3)
    agent = make_agent(
        Routed(stub.app(), {"router.test"}),
        router_url="http://router.test",
        interval_s=0.01,
        fleet_token="s3cret",
    )
    await run_until(agent, stub.got)
    assert [b.status for b in stub.heartbeats[:3]] == ["online"] * 3
    assert stub.heartbeats[-1].status == "draining"
    assert all(b.node_id == "unit-node" for b in stub.heartbeats)
    assert stub.heartbeats[0].ollama.num_parallel == 2
    assert stub.heartbeats[0].interval_s == 0.01


async def test_a_wrong_token_is_reported_and_retried() -> None:
    stub = StubRouter(token="right", wanted=3)
    agent = make_agent(
        Routed(stub.app(), {"router.test"}),
        router_url="http://router.test",
        interval_s=0.01,
        fleet_token="wrong",
    )
    await run_until(agent, stub.got)
    assert stub.refused >= 3  # kept trying after the first 401
    assert stub.heartbeats == []
    assert agent.last_outcome is Outcome.UNAUTHORIZED


async def test_unreachable_ollama_still_sends_heartbeats() -> None:
    stub = StubRouter(wanted=1)
    settings = load_node_settings(
        {"node_id": "no-ollama", "router_url": "http://router.test", "interval_s": 0.01},
        environ={},
    )
    agent = NodeAgent(
        settings,
        system=FakeSystem(),
        ollama=FakeOllama(reachable=False),
        transport=Routed(stub.app(), {"router.test"}),
    )
    await run_until(agent, stub.got)
    assert stub.heartbeats[0].ollama.reachable is False
    assert stub.heartbeats[0].ollama.models_available == []


async def test_router_advice_sets_the_interval_unless_one_was_given() -> None:
    stub = StubRouter(advised_interval=0.06, wanted=2)
    advised = make_agent(Routed(stub.app(), {"router.test"}), router_url="http://router.test")
    await run_until(advised, stub.got)
    assert advised.interval_s == 0.06

    stub2 = StubRouter(advised_interval=0.06, wanted=2)
    explicit = make_agent(
        Routed(stub2.app(), {"router.test"}), router_url="http://router.test", interval_s=0.01
    )
    await run_until(explicit, stub2.got)
    assert explicit.interval_s == 0.01


async def test_router_that_moved_is_found_again_after_failed_heartbeats() -> None:
    stub = StubRouter(wanted=2)
    transport = Routed(stub.app(), {"new.test"})
    answers = iter([None, "http://old.test", "http://new.test"])
    calls: list[float] = []

    async def discover(seconds: float, interfaces, name) -> str | None:
        calls.append(seconds)
        return next(answers, "http://new.test")

    agent = make_agent(
        transport,
        discover=discover,
        interval_s=0.01,
        rediscover_after_failures=2,
        discovery_max_backoff_s=0.01,
        mdns_interfaces=["127.0.0.1"],
    )
    await run_until(agent, stub.got)
    assert len(calls) == 3  # nothing, then the old address, then (after 2 failures) the new one
    assert transport.attempts[:2] == ["old.test", "old.test"]
    assert agent.router_url == "http://new.test"
    assert stub.heartbeats[-1].status == "draining"


async def test_a_fixed_router_url_is_never_rediscovered() -> None:
    stub = StubRouter()
    transport = Routed(stub.app(), set())
    calls: list[float] = []

    async def discover(seconds: float, interfaces, name) -> str | None:
        calls.append(seconds)
        return "http://elsewhere.test"

    agent = make_agent(
        transport,
        discover=discover,
        router_url="http://down.test",
        interval_s=0.01,
        rediscover_after_failures=1,
    )
    await run_until(agent, transport.five_attempts)
    assert calls == []
    assert set(transport.attempts) == {"down.test"}


async def test_stop_during_discovery_returns_promptly_without_heartbeats() -> None:
    started = asyncio.Event()

    async def discover(seconds: float, interfaces, name) -> str | None:
        started.set()
        await asyncio.sleep(3600)  # a browse that never finds anything
        return None

    stub = StubRouter()
    agent = make_agent(Routed(stub.app(), {"router.test"}), discover=discover)
    await run_until(agent, started)
    assert stub.heartbeats == []


async def test_the_issued_node_key_is_saved_and_sent_on_every_later_heartbeat(tmp_path) -> None:
    seen: list[str | None] = []
    got = asyncio.Event()

    async def heartbeat(request: Request) -> JSONResponse:
        seen.append(request.headers.get("x-herd-node-key"))
        if len(seen) >= 3:
            got.set()
        ack = {
            "node_id": "unit-node",
            "status": "online",
            "router_version": "stub",
            "heartbeat_interval_s": 5.0,
        }
        return JSONResponse({**ack, "node_key": "k1"} if len(seen) == 1 else ack)

    app = Starlette(routes=[Route("/fleet/heartbeat", heartbeat, methods=["POST"])])
    key_file = tmp_path / "node.key"
    agent = make_agent(
        Routed(app, {"router.test"}),
        router_url="http://router.test",
        interval_s=0.01,
        key_file=str(key_file),
    )
    await run_until(agent, got)
    assert seen[0] is None and set(seen[1:]) == {"k1"}
    assert key_file.read_text() == "k1" and key_file.stat().st_mode & 0o077 == 0
    again = make_agent(Routed(app, {"router.test"}), key_file=str(key_file))
    assert again.key.headers() == {"X-Herd-Node-Key": "k1"}


class FlakySystem(FakeSystem):
    """Fails like a bug would (not a network error) for its first ``failures`` readings."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def collect(self) -> SystemSnapshot:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("sensor driver exploded")
        return super().collect()


class BrokenTransport(httpx.AsyncBaseTransport):
    """Raises a non-HTTP error on the first ``failures`` requests, then passes them on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures > 0:
            self.failures -= 1
            raise ValueError("a bug in the transport")
        return await self.inner.handle_async_request(request)


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_failing_round_is_logged_and_the_loop_starts_again() -> None:
    recorded = Recorded()
    logging.getLogger("herd.node.agent").addHandler(recorded)
    stub = StubRouter(wanted=2)
    settings = load_node_settings(
        {"node_id": "flaky", "router_url": "http://router.test", "interval_s": 0.01}, environ={}
    )
    agent = NodeAgent(
        settings,
        system=FlakySystem(failures=2),
        ollama=FakeOllama(),
        transport=BrokenTransport(Routed(stub.app(), {"router.test"}), failures=2),
    )
    try:
        await run_until(agent, stub.got)
    finally:
        logging.getLogger("herd.node.agent").removeHandler(recorded)
    assert agent.loop_failures == 4  # two collections and two sends failed, then it recovered
    assert [b.status for b in stub.heartbeats[:2]] == ["online", "online"]
    failed = [r for r in recorded.records if r.getMessage().startswith("heartbeat loop failed")]
    assert len(failed) == 4 and all(r.exc_info for r in failed)
