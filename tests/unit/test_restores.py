"""Placement over time: which displaced models come back to their node, and when not."""

from __future__ import annotations

import pytest

from herd_contract.units import GB
from router.scoring import LoadedInfo, NodeSnapshot, restores
from router.scoring.restores import DISPLACED_WINDOW_S, MIN_DEMAND_PER_S, Restore

CODER = "qwen2.5-coder:32b"
CHAT = "llama3.1:8b"
BIG = "llama3.3:70b"
DISK = {CODER: 20_000_000_000, CHAT: 5_000_000_000, BIG: 42_000_000_000}
NOW = 50_000.0
IN_DEMAND = {CODER: 0.05, CHAT: 0.02}


def big_node(
    available: float = 40.0, loaded: dict[str, LoadedInfo] | None = None, **fields: object
) -> NodeSnapshot:
    return NodeSnapshot(
        node_id="studio",
        memory_total_gb=64,
        memory_available_gb=available,
        loaded=loaded or {},
        on_disk=DISK,
        **fields,  # type: ignore[arg-type]
    )


def plan(
    nodes: list[NodeSnapshot],
    displaced: dict[str, float] | None = None,
    demand: dict[str, float] | None = None,
    busy: bool = False,
) -> list[Restore]:
    return restores.plan(
        nodes,
        {"studio": {CODER: NOW - 60} if displaced is None else displaced},
        IN_DEMAND if demand is None else demand,
        {},
        lambda _node: busy,
        lambda _model: 24 * GB / GB,
        NOW,
    )


def test_a_displaced_model_in_demand_comes_back_once_its_node_has_room() -> None:
    assert plan([big_node()]) == [Restore("studio", CODER, NOW - 60, 0.05)]


def test_the_most_demanded_comes_back_first_and_one_per_node() -> None:
    displaced = {CODER: NOW - 60, CHAT: NOW - 30}
    assert [r.model for r in plan([big_node()], displaced)] == [CODER]
    hotter = {CODER: 0.01, CHAT: 0.2}
    assert [r.model for r in plan([big_node()], displaced, hotter)] == [CHAT]


def test_nothing_is_evicted_to_make_room() -> None:
    # The 70B that displaced it is still loaded and idle: bringing the 32B back would evict it.
    still_there = {BIG: LoadedInfo(45_000_000_000, 8192, 0)}
    assert plan([big_node(available=19.0, loaded=still_there)]) == []
    # Without the usual headroom either.
    assert plan([big_node(available=22.5)]) == []


@pytest.mark.parametrize(
    ("case", "node", "displaced", "demand", "busy"),
    [
        ("no demand left", big_node(), None, {CODER: MIN_DEMAND_PER_S / 2}, False),
        ("displaced too long ago", big_node(), {CODER: NOW - DISPLACED_WINDOW_S - 1}, None, False),
        ("router requests on the node", big_node(), None, None, True),
        (
            "the node runs something itself",
            big_node(loaded={CHAT: LoadedInfo(6_000_000_000, 8192, in_flight=1)}, available=34),
            None,
            None,
            False,
        ),
        ("draining", big_node(draining=True), None, None, False),
        ("offline", big_node(state="offline"), None, None, False),
        ("already back", big_node(loaded={CODER: LoadedInfo(22_000_000_000)}), None, None, False),
        (
            "deleted from its disk",
            NodeSnapshot("studio", memory_total_gb=64, memory_available_gb=40, on_disk={}),
            None,
            None,
            False,
        ),
    ],
)
def test_no_restore_when(
    case: str,
    node: NodeSnapshot,
    displaced: dict[str, float] | None,
    demand: dict[str, float] | None,
    busy: bool,
) -> None:
    assert plan([node], displaced, demand, busy) == [], case
