"""Fixtures shared by end-to-end test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fleet import Fleet, running_fleet


@pytest.fixture(scope="session")
def clients_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A router with two simulated nodes (a workstation and a laptop) that the official-client
    tests share: starting a fleet costs seconds, so these modules start one between them."""
    with running_fleet(
        tmp_path_factory.mktemp("clients"), [("ws", "workstation"), ("laptop", "laptop")]
    ) as running:
        yield running
