"""The contract node and router share: one unit of size on the wire (bytes), converted to GB once.

A 16 GiB machine used to report ``total_gb: 16.0`` (GiB) which the router read as 16 * 10^9 bytes,
so every memory fit was about 7 % off. These tests follow real byte counts from the agent's
collector through the heartbeat's JSON into the router's scorer and public status.
"""

from __future__ import annotations

import json
from collections import namedtuple

import psutil
import pytest

from herd_contract.heartbeat import Heartbeat
from herd_contract.units import GB, GIB, to_gb
from node.collectors import OllamaSnapshot, SystemCollector, build_heartbeat
from router.fleet_view import node_view
from router.registry import NodeRecord
from router.scoring import snapshot_from_heartbeat

VirtualMemory = namedtuple("VirtualMemory", "total available")
SwapMemory = namedtuple("SwapMemory", "total used sin sout")
DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture
def sixteen_gib_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """psutil reports a 16 GiB machine with 10 GiB available and a 1 TiB disk, 400 GiB free."""
    monkeypatch.setattr(psutil, "virtual_memory", lambda: VirtualMemory(16 * GIB, 10 * GIB))
    monkeypatch.setattr(psutil, "swap_memory", lambda: SwapMemory(2 * GIB, GIB // 2, 0, 0))
    monkeypatch.setattr(
        psutil, "disk_usage", lambda _path: DiskUsage(1024 * GIB, 624 * GIB, 400 * GIB)
    )


def heartbeat_over_the_wire(tmp_path) -> Heartbeat:
    system = SystemCollector(tmp_path).collect()
    sent = build_heartbeat(
        node_id="box",
        ollama_url="http://127.0.0.1:11434",
        system=system,
        ollama=OllamaSnapshot(reachable=False),
        interval_s=5.0,
        sent_at=1.0,
    )
    return Heartbeat.model_validate(json.loads(json.dumps(sent.model_dump(mode="json"))))


@pytest.mark.usefixtures("sixteen_gib_machine")
def test_the_agent_sends_exact_bytes(tmp_path) -> None:
    received = heartbeat_over_the_wire(tmp_path)
    assert received.memory.total_bytes == 16 * GIB
    assert received.memory.available_bytes == 10 * GIB
    assert received.memory.used_bytes == 6 * GIB
    assert received.memory.swap_used_bytes == GIB // 2
    assert received.hardware.memory_bytes == 16 * GIB
    assert received.disk is not None and received.disk.free_bytes == 400 * GIB


@pytest.mark.usefixtures("sixteen_gib_machine")
def test_a_16_gib_machines_fit_is_computed_exactly(tmp_path) -> None:
    snap = snapshot_from_heartbeat(heartbeat_over_the_wire(tmp_path))
    # 16 GiB is 17.18 GB: the scorer's memory figures are the bytes sent, in GB, not 16.0.
    assert snap.memory_total_gb * GB == pytest.approx(16 * GIB, rel=1e-12)
    assert snap.memory_available_gb * GB == pytest.approx(10 * GIB, rel=1e-12)
    assert snap.disk_free_gb is not None
    assert snap.disk_free_gb * GB == pytest.approx(400 * GIB, rel=1e-12)


@pytest.mark.usefixtures("sixteen_gib_machine")
def test_the_public_status_shows_gb_from_the_same_bytes(tmp_path) -> None:
    hb = heartbeat_over_the_wire(tmp_path)
    record = NodeRecord("box", hb, hb.ollama.url, first_seen=1.0, last_seen=1.0)
    view = node_view(record, "online", now=2.0).model_dump(mode="json")
    assert view["memory"]["total_gb"] == to_gb(16 * GIB) == 17.18
    assert view["memory"]["available_gb"] == 10.737
    assert view["hardware"]["memory_gb"] == 17.18
    assert view["disk"]["free_gb"] == 429.497


def test_model_sizes_stay_ollamas_bytes_and_the_status_adds_size_gb() -> None:
    hb = Heartbeat.model_validate(
        {
            "node_id": "box",
            "cpu": {"cores": 4, "utilization_pct": 1},
            "memory": {"total_bytes": GIB, "used_bytes": 0, "available_bytes": GIB},
            "ollama": {
                "url": "http://127.0.0.1:11434",
                "models_available": [{"name": "qwen3:8b", "size": 5_225_387_923}],
            },
        }
    )
    record = NodeRecord("box", hb, hb.ollama.url, first_seen=1.0, last_seen=1.0)
    [entry] = node_view(record, "online", now=2.0).model_dump(mode="json")["ollama"][
        "models_available"
    ]
    assert entry["size"] == 5_225_387_923 and entry["size_gb"] == 5.225


def test_a_heartbeat_in_gb_is_refused() -> None:
    """An old agent's ``total_gb`` fails loudly (422 at the router) instead of being misread."""
    with pytest.raises(ValueError, match="total_bytes"):
        Heartbeat.model_validate(
            {
                "node_id": "old",
                "cpu": {"cores": 4, "utilization_pct": 1},
                "memory": {"total_gb": 16, "used_gb": 6, "available_gb": 10},
                "ollama": {"url": "http://127.0.0.1:11434"},
            }
        )
