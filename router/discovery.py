"""The router's mDNS advertisement: ``_fleet-manager._tcp.local.`` pointing at the router's port.

Owns one ``AsyncZeroconf`` registration for the router's lifetime. ``start()`` returns at once and
registers in the background (zeroconf probes the name for about a second first), so it never delays
the router's start-up; ``stop()`` withdraws the record (a goodbye packet) and closes the sockets.
A failure to advertise is logged, never raised: nodes can still be pointed at the router by URL.

When ``interfaces`` is given (interface IP addresses, e.g. ``["127.0.0.1"]`` in tests), zeroconf
binds and answers on those only and the record carries those addresses. The service type and the
zeroconf binding are the contract's (``herd_contract.discovery``), shared with the node's browse.
This module never browses; the node's side of discovery lives in ``node/discovery.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket

import psutil
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from herd_contract.discovery import MDNS_SERVICE_TYPE, zeroconf_on
from router import __version__

log = logging.getLogger("herd.router.discovery")

_LABEL_MAX = 63


def host_label() -> str:
    """This host's name without its domain, safe as one DNS label."""
    raw = socket.gethostname().split(".")[0] or "herd"
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in raw).strip("-")
    return (cleaned or "herd")[:_LABEL_MAX]


def default_service_name(port: int) -> str:
    """The instance name a router advertises by default: ``herd-<host>-<port>``.

    Unique per host and port, so two routers on one machine (tests) do not collide, and a node can
    ask for one router by name (``herd-node --router-name``).
    """
    return f"herd-{host_label()}-{port}"[:_LABEL_MAX]


def advertised_addresses(interfaces: list[str] | None) -> list[str]:
    """The addresses the record carries: the given interfaces', or every non-loopback IPv4.

    Falls back to 127.0.0.1 when the machine has no other address, so a local node still finds it.
    """
    found: list[str] = []
    if interfaces:
        for item in interfaces:
            try:
                found.append(str(ipaddress.ip_address(item)))
            except ValueError:
                continue
        return found or ["127.0.0.1"]
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(entry.address)
            if not (ip.is_loopback or ip.is_link_local) and entry.address not in found:
                found.append(entry.address)
    return found or ["127.0.0.1"]


class RouterAdvertiser:
    """Registers the router under ``_fleet-manager._tcp.local.`` while it runs."""

    def __init__(
        self,
        port: int,
        interfaces: list[str] | None = None,
        properties: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.port = port
        self.interfaces = list(interfaces) if interfaces else None
        self.name = (name or default_service_name(port))[:_LABEL_MAX]
        self.properties = {"version": __version__, "api": "/fleet/heartbeat", **(properties or {})}
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()

    @property
    def service_name(self) -> str:
        """The full instance name, e.g. ``herd-box-11435._fleet-manager._tcp.local.``."""
        return self._info.name if self._info is not None else f"{self.name}.{MDNS_SERVICE_TYPE}"

    def _build_info(self) -> AsyncServiceInfo:
        packed = [ipaddress.ip_address(a).packed for a in advertised_addresses(self.interfaces)]
        return AsyncServiceInfo(
            MDNS_SERVICE_TYPE,
            f"{self.name}.{MDNS_SERVICE_TYPE}",
            addresses=packed,
            port=self.port,
            properties=self.properties,
            server=f"{host_label()}.local.",
        )

    async def start(self) -> None:
        """Begin advertising in the background; returns without waiting for the registration."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._register(), name="herd-mdns-register")

    async def advertise(self) -> None:
        """Register and announce the record, then hold it until cancelled; raise on failure
        (zeroconf closed again), so a supervisor can retry it."""
        try:
            await self._announce()
        except asyncio.CancelledError:
            raise
        except Exception:
            zc, self._zc = self._zc, None
            if zc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(zc.async_close(), timeout=3.0)
            raise
        await asyncio.Event().wait()

    async def _register(self) -> None:
        try:
            await self._announce()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "mDNS advertisement failed; nodes need --router-url",
                extra={"error": repr(exc), "interfaces": self.interfaces},
            )

    async def _announce(self) -> None:
        self._zc = zeroconf_on(self.interfaces)
        self._info = self._build_info()
        # Probing happens here; the returned task then announces the record a few times.
        announcing = await self._zc.async_register_service(self._info, allow_name_change=True)
        self.registered.set()
        with contextlib.suppress(Exception):
            await announcing
        log.info(
            "advertising router over mDNS",
            extra={
                "service": self.service_name,
                "port": self.port,
                "interfaces": self.interfaces or "all",
            },
        )

    async def stop(self) -> None:
        """Withdraw the record and close zeroconf. Safe to call twice, or without ``start``."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            if self.registered.is_set() and self._info is not None:
                goodbye = await zc.async_unregister_service(self._info)
                await asyncio.wait_for(goodbye, timeout=3.0)  # goodbye packets actually sent
        except Exception as exc:
            log.debug("mDNS unregister failed", extra={"error": repr(exc)})
        finally:
            self.registered.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(zc.async_close(), timeout=3.0)
