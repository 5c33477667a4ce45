"""How a node finds the router on the network: the mDNS service type, the router's default port
and the zeroconf instance both sides open.

The router advertises ``_fleet-manager._tcp.local.`` (``router/discovery.py``) and the agent
browses for it (``node/discovery.py``); both bind zeroconf through ``zeroconf_on`` so that
``interfaces=["127.0.0.1"]`` (tests, the demo) keeps every packet on loopback.
"""

from __future__ import annotations

import ipaddress

from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncZeroconf

MDNS_SERVICE_TYPE = "_fleet-manager._tcp.local."
"""The service type herd's router advertises (the public project's name, kept for compatibility)."""
DEFAULT_ROUTER_PORT = 11435
"""Where the router listens unless told otherwise."""


def zeroconf_on(interfaces: list[str] | None) -> AsyncZeroconf:
    """An ``AsyncZeroconf`` bound to ``interfaces`` (IP addresses; all interfaces when empty), on
    the IP versions those addresses have (IPv4 only when none is given)."""
    versions = set()
    for item in interfaces or []:
        try:
            versions.add(ipaddress.ip_address(item).version)
        except ValueError:
            versions.add(4)
    if versions == {6}:
        ip_version = IPVersion.V6Only
    else:
        ip_version = IPVersion.All if 6 in versions else IPVersion.V4Only
    return AsyncZeroconf(interfaces=interfaces or InterfaceChoice.All, ip_version=ip_version)
