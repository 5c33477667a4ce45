"""The pure parts of router discovery: address choice, name filter, backoff, re-resolution."""

from __future__ import annotations

import pytest

from node.discovery import (
    Backoff,
    FailureTracker,
    choose_address,
    instance_name,
    name_matches,
    service_url,
)
from router.discovery import advertised_addresses, default_service_name


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        (["127.0.0.1"], "127.0.0.1"),
        (["127.0.0.1", "192.168.1.20"], "192.168.1.20"),
        (["169.254.3.4", "10.0.0.7"], "10.0.0.7"),
        (["fe80::1", "2001:db8::5"], "2001:db8::5"),
        (["2001:db8::5", "10.0.0.7"], "10.0.0.7"),
        (["not-an-ip"], None),
        ([], None),
    ],
)
def test_choose_address(addresses: list[str], expected: str | None) -> None:
    assert choose_address(addresses) == expected


def test_service_url() -> None:
    assert service_url(["127.0.0.1"], 11435) == "http://127.0.0.1:11435"
    assert service_url(["2001:db8::5"], 8080) == "http://[2001:db8::5]:8080"
    assert service_url(["127.0.0.1"], 0) is None
    assert service_url([], 11435) is None


def test_instance_names_and_the_name_filter() -> None:
    full = "herd-box-11435._fleet-manager._tcp.local."
    assert instance_name(full) == "herd-box-11435"
    assert name_matches(full, None)
    assert name_matches(full, "HERD-box-11435")
    assert not name_matches(full, "herd-other-11435")


def test_backoff_grows_and_stays_bounded() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0)
    delays = [backoff.next_delay() for _ in range(200)]  # a long outage must not overflow
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert max(delays) == 4.0
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_rediscovery_after_consecutive_failures_only() -> None:
    tracker = FailureTracker(threshold=3)
    assert not tracker.failure()
    assert not tracker.failure()
    tracker.success()  # a success in between starts the count over
    assert not tracker.failure()
    assert not tracker.failure()
    assert tracker.failure()  # third in a row: browse again
    assert not tracker.failure()  # and the count starts over after that


def test_router_service_names_are_per_port_and_dns_safe() -> None:
    name = default_service_name(11435)
    assert name.startswith("herd-") and name.endswith("-11435")
    assert len(name) <= 63
    assert default_service_name(1) != default_service_name(2)


def test_advertised_addresses_of_restricted_interfaces() -> None:
    assert advertised_addresses(["127.0.0.1"]) == ["127.0.0.1"]
    assert advertised_addresses(["eth0-not-an-ip"]) == ["127.0.0.1"]
    unrestricted = advertised_addresses(None)
    assert unrestricted and all(a != "" for a in unrestricted)
