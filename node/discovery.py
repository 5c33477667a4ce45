"""Finding the router over mDNS, and the rules for when to look again.

Owns the zeroconf browse for ``_fleet-manager._tcp.local.`` (``discover_router``) and the pure
pieces the agent's loop relies on: choosing an address from a resolved record, a bounded exponential
backoff between fruitless browses, and the failure counter that says "the router moved or
restarted: browse again". It never sends heartbeats and never gives up: the agent retries forever,
each wait bounded by ``Backoff.maximum``.

Each browse uses a fresh ``AsyncZeroconf``, closed afterwards, so a router that died without
saying goodbye cannot linger in a stale cache. With ``interfaces=["127.0.0.1"]`` nothing leaves the
loopback interface (tests and the demo rely on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

from herd_contract.discovery import MDNS_SERVICE_TYPE, zeroconf_on

log = logging.getLogger("herd.node.discovery")


@dataclass(frozen=True, slots=True)
class RouterService:
    """One resolved router advertisement."""

    name: str
    url: str
    version: str = ""


def instance_name(full_name: str, service_type: str = MDNS_SERVICE_TYPE) -> str:
    """``herd-box-11435._fleet-manager._tcp.local.`` -> ``herd-box-11435``."""
    suffix = f".{service_type}"
    return full_name[: -len(suffix)] if full_name.endswith(suffix) else full_name


def name_matches(full_name: str, wanted: str | None) -> bool:
    """Whether an advertisement is the router asked for (any router when ``wanted`` is None)."""
    return wanted is None or instance_name(full_name).lower() == wanted.lower()


def choose_address(addresses: list[str]) -> str | None:
    """The address to reach a router at: IPv4 before IPv6, routable before link-local.

    Loopback is acceptable (a router on this machine advertising on 127.0.0.1 only) but any
    other address is preferred, since a node elsewhere cannot use it.
    """

    def rank(text: str) -> tuple[int, int]:
        try:
            ip = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            return (9, 9)
        if ip.is_link_local:
            quality = 2
        elif ip.is_loopback:
            quality = 1
        else:
            quality = 0
        return (quality, 0 if ip.version == 4 else 1)

    candidates = [a for a in addresses if rank(a) != (9, 9)]
    if not candidates:
        return None
    return min(candidates, key=rank)


def service_url(addresses: list[str], port: int) -> str | None:
    """The router's base URL from a record's addresses and port, or None without a usable one."""
    address = choose_address(addresses)
    if address is None or not 0 < port < 65536:
        return None
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


@dataclass(slots=True)
class Backoff:
    """Exponential backoff: ``initial``, times ``factor`` per failure, at most ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    attempts: int = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts = min(self.attempts + 1, 64)
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass(slots=True)
class FailureTracker:
    """Counts consecutive failed heartbeats; at ``threshold`` the router should be looked up again.

    Only failures to reach the router count (connection refused, timeouts, 5xx): a 401 or 422 means
    the router is right there and answering, so browsing again would not help.
    """

    threshold: int = 3
    consecutive: int = 0

    def success(self) -> None:
        self.consecutive = 0

    def failure(self) -> bool:
        """Record one failure; True when it is time to rediscover (and the count starts over)."""
        self.consecutive += 1
        if self.consecutive >= self.threshold:
            self.consecutive = 0
            return True
        return False


async def browse_router(
    timeout: float = 5.0,
    interfaces: list[str] | None = None,
    name: str | None = None,
) -> RouterService | None:
    """Browse for up to ``timeout`` seconds; the first router that resolves, or None."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: asyncio.Queue[str] = asyncio.Queue()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            loop.call_soon_threadsafe(seen.put_nowait, name)

    azc = zeroconf_on(interfaces)
    browser: AsyncServiceBrowser | None = None
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, MDNS_SERVICE_TYPE, handlers=[on_change])
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                full_name = await asyncio.wait_for(seen.get(), timeout=remaining)
            except TimeoutError:
                return None
            if not name_matches(full_name, name):
                log.debug("ignoring another router", extra={"service": full_name})
                continue
            info = AsyncServiceInfo(MDNS_SERVICE_TYPE, full_name)
            resolve_ms = max(100, int(min(remaining, 3.0) * 1000))
            if not await info.async_request(azc.zeroconf, resolve_ms):
                continue
            url = service_url(info.parsed_addresses(), info.port or 0)
            if url is None:
                continue
            version = (info.properties or {}).get(b"version") or b""
            return RouterService(
                name=full_name, url=url, version=version.decode("utf-8", "replace")
            )
    finally:
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.async_cancel()
        with contextlib.suppress(Exception):
            await azc.async_close()


async def discover_router(
    timeout: float = 5.0,
    interfaces: list[str] | None = None,
    name: str | None = None,
) -> str | None:
    """The base URL of a router advertised over mDNS, or None if none answered in time."""
    found = await browse_router(timeout=timeout, interfaces=interfaces, name=name)
    return found.url if found is not None else None
