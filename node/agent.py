"""The heartbeat loop: find the router, report this device every interval, say goodbye on exit.

Owns ``NodeAgent``: each tick it collects a system snapshot (psutil, in a worker thread) and an
Ollama snapshot (httpx) concurrently, builds a ``herd_contract.heartbeat.Heartbeat`` and posts it to
``{router}/fleet/heartbeat`` (the Ollama's image-generation models go in it as an ``image`` backend,
not as language models: ``node.backends.ollama_images``). It finds the router over mDNS unless given
a URL, retries discovery forever with bounded backoff, and browses again after a few heartbeats in a
row fail to reach the router (it moved or restarted). When asked to stop it sends one last ``status:
"draining"`` heartbeat, bounded in time, and returns.

The loop is supervised: a round that fails for any reason is logged with its traceback and started
again after a growing backoff, so ``run`` ends only when asked to. It never blocks the event loop
and never starts processes itself (running the simulator is the business of ``node/cli.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import httpx

from herd_contract.heartbeat import BackendInfo, Capabilities, Heartbeat
from node.backends import ollama_images
from node.backends.inventory import Backends
from node.backends.jobs import BackendReport
from node.collectors import (
    OllamaReader,
    OllamaSnapshot,
    SystemCollector,
    SystemSnapshot,
    build_heartbeat,
    default_disk_path,
)
from node.config import NodeSettings
from node.discovery import Backoff, FailureTracker, discover_router
from node.node_key import NodeKey, default_key_file

log = logging.getLogger("herd.node.agent")

DRAIN_TIMEOUT_S = 1.5
"""The farewell heartbeat gets this long, so the process exits within a couple of seconds."""
MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0
LOOP_MAX_BACKOFF_S = 60.0
"""The longest wait before the heartbeat loop starts again after failing rounds."""

T = TypeVar("T")
Discover = Callable[[float, list[str] | None, str | None], Coroutine[Any, Any, str | None]]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    UNREACHABLE = "unreachable"  # connection refused, timeout, 5xx: maybe the router moved
    UNAUTHORIZED = "unauthorized"  # 401/403: wrong or missing fleet token
    REJECTED = "rejected"  # 4xx such as 422: the router refused this heartbeat


async def _default_discover(
    seconds: float, interfaces: list[str] | None, name: str | None
) -> str | None:
    return await discover_router(timeout=seconds, interfaces=interfaces, name=name)


class NodeAgent:
    """Reports one device to the router until ``stop`` is set."""

    def __init__(
        self,
        settings: NodeSettings,
        *,
        system: SystemCollector | None = None,
        ollama: OllamaReader | None = None,
        discover: Discover = _default_discover,
        transport: httpx.AsyncBaseTransport | None = None,
        backends: Backends | None = None,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self._system = system
        self._ollama = ollama or OllamaReader(
            settings.ollama_url,
            simulated=settings.simulate is not None,
            timeout_s=min(settings.request_timeout_s, 5.0),
        )
        self._discover = discover
        headers = {"user-agent": "herd-node"}
        if settings.fleet_token:
            headers["authorization"] = f"Bearer {settings.fleet_token}"
        self._client = httpx.AsyncClient(
            timeout=settings.request_timeout_s,
            headers=headers,
            transport=transport,
            trust_env=False,
        )
        self.key = NodeKey(_key_path(settings))
        self.router_url: str | None = settings.router_url
        self.interval_s = settings.effective_interval_s
        self.backoff = Backoff(maximum=settings.discovery_max_backoff_s)
        self.failures = FailureTracker(threshold=settings.rediscover_after_failures)
        self.last_outcome: Outcome | None = None
        self.sent = 0
        self.accepted = 0
        self.loop_failures = 0
        self._last: tuple[SystemSnapshot, OllamaSnapshot] | None = None
        self._backends_last: list[BackendReport] = []
        self._ollama_reachable: bool | None = None

    @property
    def fixed_router(self) -> bool:
        return self.settings.router_url is not None

    # --- collection -----------------------------------------------------------------------------

    async def _system_collector(self) -> SystemCollector:
        if self._system is None:
            path = default_disk_path(self.settings.models_dir)
            self._system = await asyncio.to_thread(SystemCollector, path)
        return self._system

    async def collect(self, status: str = "online") -> Heartbeat:
        """One heartbeat from fresh snapshots (system in a thread, Ollama over HTTP, together)."""
        collector = await self._system_collector()
        system, ollama, backends = await asyncio.gather(
            asyncio.to_thread(collector.collect), self._ollama.read(), self._backend_reports()
        )
        self._last = (system, ollama)
        self._backends_last = backends
        if ollama.reachable != self._ollama_reachable:
            self._ollama_reachable = ollama.reachable
            if ollama.reachable:
                log.info(
                    "ollama reachable",
                    extra={"url": self.settings.ollama_url, "version": ollama.version},
                )
            else:
                log.warning(
                    "ollama unreachable; reporting the device without models",
                    extra={"url": self.settings.ollama_url},
                )
        return self._build(system, ollama, status)

    async def _backend_reports(self) -> list[BackendReport]:
        if self.backends is None:
            return []
        return await self.backends.reports(self.settings.gateway_url)

    def _build(self, system: SystemSnapshot, ollama: OllamaSnapshot, status: str) -> Heartbeat:
        heartbeat = build_heartbeat(
            node_id=self.settings.node_id,
            ollama_url=self.settings.ollama_url,
            system=system,
            ollama=ollama,
            interval_s=self.interval_s,
            sent_at=time.time(),
            status=status,
        )
        llms, image_report = ollama_images.split(
            self.settings.ollama_url, heartbeat.ollama.version, heartbeat.ollama.models_available
        )
        heartbeat.ollama.models_available = llms
        reports = self._backends_last + ([image_report] if image_report else [])
        heartbeat.backends = [BackendInfo.model_validate(asdict(r)) for r in reports]
        image = sorted({m for r in reports if r.kind == "image" and r.reachable for m in r.models})
        speech = sorted({m for r in reports if r.kind == "stt" and r.reachable for m in r.models})
        heartbeat.capabilities = Capabilities(
            image_generation=bool(image),
            speech_to_text=bool(speech),
            image_models=image[:64],
            stt_models=speech[:64],
        )
        return heartbeat

    # --- sending --------------------------------------------------------------------------------

    async def send(self, heartbeat: Heartbeat, timeout_s: float | None = None) -> Outcome:
        """Post one heartbeat to the current router and classify the answer."""
        assert self.router_url is not None
        url = f"{self.router_url}/fleet/heartbeat"
        self.sent += 1
        try:
            response = await self._client.post(
                url,
                json=heartbeat.model_dump(mode="json"),
                headers=self.key.headers(),
                timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            return self._note(Outcome.UNREACHABLE, url=url, detail=repr(exc))
        if response.status_code == 200:
            self.accepted += 1
            self._adopt_interval(response)
            self._adopt_key(response)
            return self._note(Outcome.ACCEPTED, url=url)
        detail = response.text[:500]
        if response.status_code in (401, 403):
            return self._note(Outcome.UNAUTHORIZED, url=url, detail=detail)
        if response.status_code >= 500:
            return self._note(
                Outcome.UNREACHABLE, url=url, detail=f"{response.status_code} {detail}"
            )
        return self._note(Outcome.REJECTED, url=url, detail=f"{response.status_code} {detail}")

    def _adopt_key(self, response: httpx.Response) -> None:
        try:
            issued = response.json().get("node_key")
        except (ValueError, AttributeError):
            return
        if isinstance(issued, str) and issued:
            self.key.adopt(issued)

    def _adopt_interval(self, response: httpx.Response) -> None:
        if self.settings.interval_s is not None:
            return  # the operator chose an interval; keep it
        try:
            advised = float(response.json().get("heartbeat_interval_s"))
        except (ValueError, TypeError, AttributeError):
            return
        if MIN_INTERVAL_S <= advised <= MAX_INTERVAL_S and advised != self.interval_s:
            log.info("using the router's heartbeat interval", extra={"interval_s": advised})
            self.interval_s = advised

    def _note(self, outcome: Outcome, *, url: str, detail: str = "") -> Outcome:
        changed = outcome != self.last_outcome
        self.last_outcome = outcome
        fields = {"router": url, "node_id": self.settings.node_id, "detail": detail}
        if outcome is Outcome.ACCEPTED:
            if changed:
                log.info("heartbeats accepted by the router", extra=fields)
        elif outcome is Outcome.UNAUTHORIZED:
            log.error(
                "router refused the fleet token (401: set HERD_FLEET_TOKEN or --fleet-token) or "
                "this node's key (403: the id is bound to another agent, see detail); retrying",
                extra=fields,
            )
        elif outcome is Outcome.REJECTED:
            log.error("router rejected the heartbeat", extra=fields)
        elif changed:
            log.warning("router unreachable; retrying", extra=fields)
        return outcome

    # --- the loop -------------------------------------------------------------------------------

    async def _locate(self, stop: asyncio.Event) -> bool:
        """Browse until a router answers or ``stop`` is set; True when a router was found."""
        settings = self.settings
        while not stop.is_set():
            log.info(
                "looking for the router over mDNS",
                extra={"interfaces": settings.mdns_interfaces or "all"},
            )
            task = asyncio.create_task(
                self._discover(
                    settings.discovery_timeout_s,
                    settings.mdns_interfaces or None,
                    settings.router_name,
                )
            )
            try:
                url = await _unless_stopped(task, stop)
            except Exception as exc:  # a broken network stack must not end the agent
                log.warning("mDNS browse failed", extra={"error": repr(exc)})
                url = None
            if url:
                self.router_url = url
                self.backoff.reset()
                self.failures.success()
                log.info("found the router", extra={"router": url})
                return True
            if stop.is_set():
                break
            delay = self.backoff.next_delay()
            log.info("no router found yet", extra={"retry_in_s": delay})
            await _wait(stop, delay)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat until ``stop`` is set, then send a draining heartbeat and return.

        Supervised: a failure anywhere in a round (collecting, building, sending, browsing) is
        logged with its traceback and the loop starts again after a backoff that grows to
        ``LOOP_MAX_BACKOFF_S`` while it keeps failing and resets after a good round; it never
        ends for an error, only for ``stop``."""
        restarts = Backoff(initial=self.interval_s, maximum=LOOP_MAX_BACKOFF_S)
        try:
            while not stop.is_set():
                try:
                    if not await self._round(stop):
                        break
                    restarts.reset()
                except Exception:
                    self.loop_failures += 1
                    delay = restarts.next_delay()
                    log.exception(
                        "heartbeat loop failed; starting it again",
                        extra={"retry_in_s": delay, "failures": self.loop_failures},
                    )
                    await _wait(stop, delay)
            await self.drain()
        finally:
            await self.aclose()

    async def _round(self, stop: asyncio.Event) -> bool:
        """One heartbeat (finding the router first when needed); False once ``stop`` is set."""
        if self.router_url is None and not await self._locate(stop):
            return False
        heartbeat = await _unless_stopped(asyncio.create_task(self.collect()), stop)
        if heartbeat is None:
            return False
        outcome = await _unless_stopped(asyncio.create_task(self.send(heartbeat)), stop)
        if outcome is None:
            return False  # stopped mid-request: the draining heartbeat follows at once
        if outcome is Outcome.ACCEPTED:
            self.failures.success()
        elif outcome is Outcome.UNREACHABLE and self.failures.failure() and not self.fixed_router:
            log.warning("router lost; browsing again", extra={"router": self.router_url})
            self.router_url = None
            return True
        await _wait(stop, self.interval_s)
        return True

    async def drain(self) -> Outcome | None:
        """One last heartbeat with ``status: "draining"``, bounded by ``DRAIN_TIMEOUT_S``."""
        if self.router_url is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT_S
        try:
            if self._last is not None:
                heartbeat = self._build(*self._last, status="draining")
            else:
                heartbeat = await asyncio.wait_for(self.collect("draining"), DRAIN_TIMEOUT_S / 2)
        except Exception as exc:  # TimeoutError included
            log.warning("could not build the draining heartbeat", extra={"error": repr(exc)})
            return None
        outcome = await self.send(heartbeat, timeout_s=max(0.1, deadline - loop.time()))
        log.info("sent draining heartbeat", extra={"outcome": outcome.value})
        return outcome

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()
        with contextlib.suppress(Exception):
            await self._ollama.aclose()


def _key_path(settings: NodeSettings) -> Path | None:
    if settings.key_file:
        return Path(settings.key_file).expanduser()
    return None if settings.simulate else default_key_file(settings.node_id)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _unless_stopped(task: asyncio.Task[T], stop: asyncio.Event) -> T | None:
    """The task's result, or None (task cancelled) if ``stop`` is set first."""
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None
