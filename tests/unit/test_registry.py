"""The registry's lifecycle with an injected clock: online, degraded, offline, draining."""

from __future__ import annotations

import pytest

from router.registry import CHANGE_HOLD_S, Registry, reachable_ollama_url
from tests.factories import Clock, heartbeat


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> Registry:
    return Registry(clock, degraded_after_s=15, offline_after_s=30)


def test_a_heartbeat_makes_a_node_online(registry: Registry) -> None:
    assert registry.apply(heartbeat("a")) == "online"
    [(record, status)] = registry.with_status()
    assert record.node_id == "a" and status == "online"


def test_silence_degrades_then_takes_offline(registry: Registry, clock: Clock) -> None:
    registry.apply(heartbeat("a"))
    record = registry.get("a")
    assert record is not None
    clock.now += 14.9
    assert registry.status_of(record) == "online"
    clock.now += 0.1
    assert registry.status_of(record) == "degraded"
    clock.now += 15
    assert registry.status_of(record) == "offline"
    assert registry.routable() == []


def test_a_new_heartbeat_brings_an_offline_node_back(registry: Registry, clock: Clock) -> None:
    registry.apply(heartbeat("a"))
    clock.now += 60
    assert registry.with_status()[0][1] == "offline"
    assert registry.apply(heartbeat("a")) == "online"


def test_draining_is_offline_at_once(registry: Registry) -> None:
    registry.apply(heartbeat("a"))
    assert registry.apply(heartbeat("a", status="draining")) == "offline"
    assert registry.routable() == []


def test_degraded_nodes_stay_routable(registry: Registry, clock: Clock) -> None:
    registry.apply(heartbeat("a"))
    clock.now += 20
    assert [s for _, s in registry.routable()] == ["degraded"]


def test_unloaded_models_are_remembered_as_warm(registry: Registry, clock: Clock) -> None:
    registry.apply(heartbeat("a", loaded=[("llama3.2:3b", 2.0)]))
    clock.now += 5
    registry.apply(heartbeat("a", available=[("llama3.2:3b", 2.0)]))
    record = registry.get("a")
    assert record is not None
    assert record.recently_unloaded == {"llama3.2:3b": clock.now}
    registry.apply(heartbeat("a", loaded=[("llama3.2:3b", 2.0)]))
    assert record.recently_unloaded == {}


def test_a_model_that_leaves_as_another_arrives_is_displaced(
    registry: Registry, clock: Clock
) -> None:
    disk = [("llama3.2:3b", 2.0), ("qwen3:32b", 20.0), ("gemma3:4b", 3.0)]
    registry.apply(
        heartbeat("a", loaded=[("llama3.2:3b", 2.0), ("gemma3:4b", 3.0)], available=disk)
    )
    clock.now += 5
    # gemma3 expired on its own, alone: not displaced.
    registry.apply(heartbeat("a", loaded=[("llama3.2:3b", 2.0)], available=disk))
    clock.now += 5
    registry.apply(heartbeat("a", loaded=[("qwen3:32b", 20.0)], available=disk))
    record = registry.get("a")
    assert record is not None
    assert record.displaced == {"llama3.2:3b": clock.now}
    assert set(record.recently_unloaded) == {"llama3.2:3b", "gemma3:4b"}
    clock.now += 5
    registry.apply(heartbeat("a", loaded=[("llama3.2:3b", 2.0)], available=disk))
    assert record.displaced == {"qwen3:32b": clock.now}  # the 3B is back and took its place


def test_cpu_history_is_bounded(registry: Registry) -> None:
    for pct in range(100):
        registry.apply(heartbeat("a", cpu_pct=float(pct)))
    record = registry.get("a")
    assert record is not None
    assert len(record.cpu_history) == 60 and record.cpu_history[-1] == 99.0


def test_every_heartbeat_bumps_the_generation_and_version(registry: Registry) -> None:
    seen: list[str] = []
    registry.subscribe(seen.append)
    registry.apply(heartbeat("a"))
    registry.apply(heartbeat("a"))
    record = registry.get("a")
    assert record is not None and record.generation == 2
    assert seen == ["a", "a"] and registry.version == 2


def test_stale_nodes_are_forgotten(clock: Clock) -> None:
    registry = Registry(clock, forget_after_s=100)
    registry.apply(heartbeat("a"))
    clock.now += 50
    registry.apply(heartbeat("b"))
    clock.now += 60
    assert registry.forget_stale() == ["a"]
    assert [r.node_id for r in registry.records()] == ["b"]


def test_replace_available_updates_models(registry: Registry) -> None:
    registry.apply(heartbeat("a", available=[("x:1b", 1.0)]))
    fresh = heartbeat("a", available=[("y:1b", 1.0)]).ollama.models_available
    registry.replace_available("a", fresh)
    record = registry.get("a")
    assert record is not None and record.available_models == {"y:1b"}


def test_a_fresh_read_after_a_pull_keeps_image_models_out_of_the_llm_list(
    registry: Registry,
) -> None:
    image = {"kind": "image", "adapter": "ollama", "url": "http://127.0.0.1:11434"}
    registry.apply(
        heartbeat("a", available=[("x:1b", 1.0)], backends=[{**image, "models": ["z-img:latest"]}])
    )
    fresh = heartbeat("a", available=[("x:1b", 1.0), ("z-img", 12.0), ("klein", 8.0)])
    tags = fresh.ollama.models_available
    tags[2] = tags[2].model_copy(update={"capabilities": ["image"]})  # newer Ollamas list them
    registry.replace_available("a", tags)
    record = registry.get("a")
    assert record is not None and record.available_models == {"x:1b"}


def test_a_heartbeat_gathered_before_a_pull_does_not_undo_it(clock: Clock) -> None:
    registry = Registry(clock)
    registry.apply(heartbeat("a", available=[("x:1b", 1.0), ("gone:1b", 1.0)]))
    after_pull = heartbeat("a", available=[("x:1b", 1.0), ("new:7b", 4.0)]).ollama
    registry.replace_available("a", after_pull.models_available)
    clock.now += 0.2
    # Gathered before the pull and the delete ended, posted after the router read the node.
    registry.apply(heartbeat("a", available=[("x:1b", 1.0), ("gone:1b", 1.0), ("z:1b", 1.0)]))
    record = registry.get("a")
    assert record is not None
    assert record.available_models == {"x:1b", "new:7b", "z:1b"}


def test_a_held_change_ends_when_the_node_agrees_or_the_hold_runs_out(clock: Clock) -> None:
    registry = Registry(clock)
    registry.apply(heartbeat("a", available=[("x:1b", 1.0)]))
    registry.replace_available(
        "a", heartbeat("a", available=[("new:7b", 4.0)]).ollama.models_available
    )
    registry.apply(heartbeat("a", available=[("new:7b", 4.0)]))  # the node agrees: hold over
    registry.apply(heartbeat("a", available=[("x:1b", 1.0)]))  # a later change is believed
    record = registry.get("a")
    assert record is not None and record.available_models == {"x:1b"}

    registry.replace_available("a", heartbeat("a", available=[]).ollama.models_available)
    registry.apply(heartbeat("a", available=[("x:1b", 1.0)]))
    assert record.available_models == set()
    clock.now += CHANGE_HOLD_S
    registry.apply(heartbeat("a", available=[("x:1b", 1.0)]))
    assert record.available_models == {"x:1b"}


@pytest.mark.parametrize(
    ("reported", "source", "expected"),
    [
        ("http://localhost:11434", "192.168.1.20", "http://192.168.1.20:11434"),
        ("http://127.0.0.1:11434/", "10.0.0.5", "http://10.0.0.5:11434"),
        ("http://localhost:11434", "127.0.0.1", "http://localhost:11434"),
        ("http://studio.lan:11434", "192.168.1.20", "http://studio.lan:11434"),
        ("localhost:11434", "fe80::1", "http://[fe80::1]:11434"),
        ("http://localhost:11434", None, "http://localhost:11434"),
    ],
)
def test_loopback_urls_from_other_machines_use_the_source_address(
    reported: str, source: str | None, expected: str
) -> None:
    assert reachable_ollama_url(reported, source) == expected


def test_the_heartbeat_model_refuses_what_it_does_not_know() -> None:
    from pydantic import ValidationError

    from herd_contract.heartbeat import Heartbeat

    good = heartbeat("a").model_dump()
    with pytest.raises(ValidationError, match="extra"):
        Heartbeat.model_validate({**good, "surprise": 1})
    with pytest.raises(ValidationError, match="node_id"):
        Heartbeat.model_validate({**good, "node_id": "has spaces"})
    with pytest.raises(ValidationError, match="utilization_pct"):
        Heartbeat.model_validate({**good, "cpu": {"cores": 2, "utilization_pct": 140}})
    with pytest.raises(ValidationError, match="status"):
        Heartbeat.model_validate({**good, "status": "sleeping"})
    assert Heartbeat.model_validate(good) == heartbeat("a")


def test_every_heartbeat_feeds_the_weekly_pattern(registry: Registry, clock: Clock) -> None:
    from router.weekly import MIN_SAMPLES

    for _ in range(MIN_SAMPLES):
        registry.apply(heartbeat("a", cpu_pct=70.0))
    assert registry.weekly.expected_next_hour("a", clock.now) == 70.0
