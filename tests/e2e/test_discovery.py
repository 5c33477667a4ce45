"""mDNS round trips on 127.0.0.1 only: the router's advertiser and the node's browser."""

from __future__ import annotations

import uuid

import pytest

from node.discovery import browse_router, discover_router
from router import __version__
from router.discovery import RouterAdvertiser
from tests.procs import free_port

pytestmark = pytest.mark.e2e
LOOPBACK = ["127.0.0.1"]


def unique_name() -> str:
    """Other suites may advertise on loopback at the same time: never rely on being alone."""
    return f"herd-test-{uuid.uuid4().hex[:12]}"


async def test_advertised_router_is_found_with_its_url_and_version() -> None:
    port = free_port()
    name = unique_name()
    advertiser = RouterAdvertiser(port, interfaces=LOOPBACK, properties={"role": "test"}, name=name)
    await advertiser.start()
    try:
        found = await browse_router(timeout=10, interfaces=LOOPBACK, name=name)
        assert found is not None
        assert found.url == f"http://127.0.0.1:{port}"
        assert found.version == __version__
        assert found.name == advertiser.service_name
        assert await discover_router(10, LOOPBACK, name) == f"http://127.0.0.1:{port}"
    finally:
        await advertiser.stop()
        await advertiser.stop()  # idempotent


async def test_the_name_filter_picks_one_router_among_several() -> None:
    first = RouterAdvertiser(free_port(), interfaces=LOOPBACK, name=unique_name())
    second = RouterAdvertiser(free_port(), interfaces=LOOPBACK, name=unique_name())
    await first.start()
    await second.start()
    try:
        url = await discover_router(10, LOOPBACK, second.name)
        assert url == f"http://127.0.0.1:{second.port}"
    finally:
        await first.stop()
        await second.stop()


async def test_a_withdrawn_router_is_no_longer_found() -> None:
    name = unique_name()
    advertiser = RouterAdvertiser(free_port(), interfaces=LOOPBACK, name=name)
    await advertiser.start()
    try:
        assert await discover_router(10, LOOPBACK, name) is not None
    finally:
        await advertiser.stop()
    assert await discover_router(1.5, LOOPBACK, name) is None


async def test_stop_before_registration_finishes_is_clean() -> None:
    advertiser = RouterAdvertiser(free_port(), interfaces=LOOPBACK, name=unique_name())
    await advertiser.start()
    await advertiser.stop()  # cancels the background registration
    assert not advertiser.registered.is_set()
