"""Per-node circuit breakers and the adaptive first-byte timeout (pure, with a fake clock)."""

from __future__ import annotations

from router.pipeline.breakers import Breakers, first_byte_timeout
from tests.factories import Clock


def test_consecutive_failures_open_a_node_and_a_half_open_probe_closes_it() -> None:
    clock = Clock()
    b = Breakers(clock, threshold=2, cooldown_s=10, max_cooldown_s=40)
    assert not b.failed("n", "timeout") and b.state("n") == "closed" and b.blocked() == set()
    assert b.failed("n", "connect")
    assert b.state("n") == "open" and b.blocked() == {"n"}
    clock.now += 10
    assert b.state("n") == "half_open" and b.blocked() == set()
    b.attempting("n")
    assert b.blocked() == {"n"}  # one probe at a time
    b.succeeded("n")
    assert b.state("n") == "closed" and b.snapshot() == {}


def test_a_failed_probe_opens_it_again_for_twice_as_long_up_to_the_cap() -> None:
    clock = Clock()
    b = Breakers(clock, threshold=1, cooldown_s=10, max_cooldown_s=25)
    b.failed("n", "timeout")
    for expected in (20, 25, 25):
        clock.now += 100
        b.attempting("n")
        b.failed("n", "dropped")
        clock.now += expected - 0.1
        assert b.state("n") == "open"
        clock.now += 0.1
        assert b.state("n") == "half_open"


def test_an_http_error_proves_the_node_alive() -> None:
    b = Breakers(Clock(), threshold=2)
    b.failed("n", "timeout")
    assert not b.failed("n", "http")
    assert not b.failed("n", "timeout") and b.state("n") == "closed"


def test_the_routers_own_limits_say_nothing_about_the_node() -> None:
    b = Breakers(Clock(), threshold=2)
    b.failed("n", "timeout")
    for _ in range(5):  # its pool to the node stayed full: neither a failure nor a success
        assert not b.failed("n", "local")
    assert b.state("n") == "closed"
    assert b.failed("n", "timeout") and b.state("n") == "open"


def test_the_first_byte_timeout_follows_the_estimate_between_floor_and_ceiling() -> None:
    assert first_byte_timeout(1.0, 20, 600) == 20
    assert first_byte_timeout(30.0, 20, 600) == 95
    assert first_byte_timeout(1e6, 20, 600) == 600
    assert first_byte_timeout(0.1, 20, 2) == 2  # a floor above the ceiling yields to it


def test_a_probe_that_never_reports_back_expires() -> None:
    clock = Clock()
    b = Breakers(clock, threshold=1, cooldown_s=10, max_cooldown_s=30)
    b.failed("n", "timeout")
    clock.now += 10
    b.attempting("n")
    assert b.blocked() == {"n"}
    clock.now += 30
    assert b.blocked() == set()
