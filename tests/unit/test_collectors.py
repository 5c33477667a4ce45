"""The node's collectors: pure classifications, heartbeat building, and reading an Ollama."""

from __future__ import annotations

import json
from collections import namedtuple

import httpx
import pytest

from herd_contract.heartbeat import (
    AvailableModel,
    CpuInfo,
    DiskInfo,
    HardwareInfo,
    Heartbeat,
    LoadedModel,
    MemoryInfo,
)
from herd_contract.units import GIB
from node.collectors import (
    OllamaKnobs,
    OllamaReader,
    OllamaSnapshot,
    SystemCollector,
    SystemSnapshot,
    apply_simulated_device,
    build_heartbeat,
    classify_memory_pressure,
    classify_thermal,
    hottest_sensor,
    is_ollama_serve,
    parse_models,
    parse_ollama_knobs,
    swap_activity,
)

TOTAL = 16 * GIB
SWAPPING = 50 * 1024**2  # 50 MiB/s


@pytest.mark.parametrize(
    ("available_fraction", "swap_rate", "expected"),
    [
        (0.60, 0.0, "normal"),
        (0.15, 0.0, "normal"),
        (0.149, 0.0, "warn"),
        (0.05, 0.0, "warn"),
        (0.049, 0.0, "critical"),
        (0.0, 0.0, "critical"),
        (0.40, SWAPPING, "normal"),  # plenty free: swap traffic alone is not pressure
        (0.29, SWAPPING, "warn"),
        (0.10, SWAPPING, "critical"),
        (0.10, 1024.0, "warn"),  # a trickle of swap is not "active"
    ],
)
def test_memory_pressure_thresholds(
    available_fraction: float, swap_rate: float, expected: str
) -> None:
    total = 10_000  # exact fractions at the boundaries
    available = round(total * available_fraction)
    assert classify_memory_pressure(total, available, swap_rate) == expected


def test_memory_pressure_without_a_total_is_normal() -> None:
    assert classify_memory_pressure(0, 0, SWAPPING) == "normal"


def test_swap_activity_is_a_rate_between_samples() -> None:
    assert swap_activity(None, (10.0, 5_000)) == 0.0
    assert swap_activity((10.0, 1_000), (12.0, 5_000)) == 2_000.0
    assert swap_activity((10.0, 5_000), (10.0, 9_000)) == 0.0  # no elapsed time
    assert swap_activity((10.0, 5_000), (11.0, 4_000)) == 0.0  # counters reset


@pytest.mark.parametrize(
    ("current", "high", "critical", "expected"),
    [
        (None, None, None, "unknown"),
        (45.0, None, None, "normal"),
        (85.0, None, None, "warm"),
        (96.0, None, None, "throttled"),
        (70.0, 68.0, 100.0, "warm"),
        (100.0, 68.0, 100.0, "throttled"),
        (60.0, 0.0, 0.0, "normal"),  # zeros mean "not reported"
    ],
)
def test_thermal_state(
    current: float | None, high: float | None, critical: float | None, expected: str
) -> None:
    assert classify_thermal(current, high, critical) == expected


def test_hottest_sensor_picks_the_highest_plausible_reading() -> None:
    Temp = namedtuple("Temp", "label current high critical")
    readings = {
        "acpitz": [Temp("", 40.0, None, None)],
        "coretemp": [Temp("Core 0", 71.0, 80.0, 100.0), Temp("Core 1", 66.0, 80.0, 100.0)],
        "broken": [Temp("", 300.0, None, None)],
    }
    assert hottest_sensor(readings) == (71.0, 80.0, 100.0)
    assert hottest_sensor({}) == (None, None, None)


def test_ollama_knobs_from_environment() -> None:
    knobs = parse_ollama_knobs(
        {
            "OLLAMA_NUM_PARALLEL": "4",
            "OLLAMA_MAX_LOADED_MODELS": "2",
            "OLLAMA_MAX_QUEUE": "128",
            "OLLAMA_KEEP_ALIVE": "10m",
            "OLLAMA_CONTEXT_LENGTH": "8192",
            "UNRELATED": "x",
        }
    )
    assert knobs == OllamaKnobs(4, 2, 128, "10m", 8192)


def test_malformed_knobs_count_as_unknown() -> None:
    knobs = parse_ollama_knobs(
        {"OLLAMA_NUM_PARALLEL": "lots", "OLLAMA_MAX_LOADED_MODELS": "0", "OLLAMA_MAX_QUEUE": "-1"}
    )
    assert knobs == OllamaKnobs()


def test_server_knobs_win_over_the_agents_own() -> None:
    own = OllamaKnobs(num_parallel=1, keep_alive="5m", max_queue=512)
    server = OllamaKnobs(num_parallel=4)
    merged = server.merged_over(own)
    assert merged.num_parallel == 4
    assert merged.keep_alive == "5m"
    assert merged.max_queue == 512


@pytest.mark.parametrize(
    ("name", "cmdline", "expected"),
    [
        ("ollama", ["/usr/local/bin/ollama", "serve"], True),
        ("ollama.exe", ["C:\\ollama.exe", "serve"], False),  # basename is POSIX-only here
        ("ollama", ["ollama", "run", "llama3"], False),
        ("python", ["python", "-m", "ollama", "serve"], False),
        ("ollama", [], False),
    ],
)
def test_recognising_ollama_serve(name: str, cmdline: list[str], expected: bool) -> None:
    assert is_ollama_serve(name, cmdline) is expected


TAGS = {
    "models": [
        {
            "name": "llama3.2:3b",
            "model": "llama3.2:3b",
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 2 * GIB,
            "digest": "sha256:abc",
            "details": {
                "family": "llama",
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        },
        {"model": "qwen2.5:7b", "size": 4 * GIB},
        {"name": "x" * 600, "size": 1},  # too long a name: dropped, not fatal
        "not a model",
    ]
}
PS = {
    "models": [
        {
            "name": "llama3.2:3b",
            "model": "llama3.2:3b",
            "size": 3 * GIB,
            "size_vram": 3 * GIB,
            "digest": "sha256:abc",
            "details": {"family": "llama", "families": None},
            "expires_at": "2025-01-01T00:05:00Z",
            "context_length": 4096,
        }
    ]
}


def test_parse_models_keeps_sizes_in_bytes_and_drops_bad_entries() -> None:
    available = parse_models(TAGS, AvailableModel)
    assert [m.name for m in available] == ["llama3.2:3b", "qwen2.5:7b"]
    assert [m.size for m in available] == [2 * GIB, 4 * GIB]
    assert "size_gb" not in available[0].model_dump()
    assert available[0].details.quantization_level == "Q4_K_M"
    loaded = parse_models(PS, LoadedModel)
    assert loaded[0].context_length == 4096
    assert loaded[0].size == 3 * GIB
    assert parse_models({"nope": 1}, AvailableModel) == []
    assert parse_models(None, AvailableModel) == []


def fake_system() -> SystemSnapshot:
    return SystemSnapshot(
        hardware=HardwareInfo(
            hostname="box", platform="linux", arch="x86_64", memory_bytes=16 * GIB
        ),
        cpu=CpuInfo(cores=8, utilization_pct=12.5, load_1m=0.5, load_5m=0.4),
        memory=MemoryInfo(
            total_bytes=16 * GIB, used_bytes=6 * GIB, available_bytes=10 * GIB, pressure="normal"
        ),
        disk=DiskInfo(
            path="/home", total_bytes=500 * GIB, used_bytes=100 * GIB, free_bytes=400 * GIB
        ),
    )


def fake_ollama(reachable: bool = True) -> OllamaSnapshot:
    if not reachable:
        return OllamaSnapshot(reachable=False, knobs=OllamaKnobs(num_parallel=2))
    return OllamaSnapshot(
        reachable=True,
        version="0.6.1",
        loaded=parse_models(PS, LoadedModel),
        available=parse_models(TAGS, AvailableModel),
        knobs=OllamaKnobs(num_parallel=4, max_loaded_models=3, keep_alive="5m"),
    )


def test_heartbeat_from_fake_data_round_trips_through_the_wire_model() -> None:
    heartbeat = build_heartbeat(
        node_id="box",
        ollama_url="http://localhost:11434",
        system=fake_system(),
        ollama=fake_ollama(),
        interval_s=5.0,
        sent_at=1_700_000_000.0,
    )
    body = json.loads(json.dumps(heartbeat.model_dump(mode="json")))
    again = Heartbeat.model_validate(body)  # extra="forbid": any stray field would fail here
    assert again.status == "online"
    assert again.ollama.num_parallel == 4
    assert again.ollama.version == "0.6.1"
    assert [m.name for m in again.ollama.models_loaded] == ["llama3.2:3b"]
    assert again.ollama.models_loaded[0].expires_at == "2025-01-01T00:05:00Z"
    assert again.ollama.models_available[1].size == 4 * GIB
    assert again.disk is not None and again.disk.free_bytes == 400 * GIB
    assert again.agent_version


def test_heartbeat_with_ollama_down_still_describes_the_device() -> None:
    heartbeat = build_heartbeat(
        node_id="box",
        ollama_url="http://localhost:11434",
        system=fake_system(),
        ollama=fake_ollama(reachable=False),
        interval_s=5.0,
        sent_at=1.0,
        status="draining",
    )
    assert heartbeat.ollama.reachable is False
    assert heartbeat.ollama.models_loaded == []
    assert heartbeat.ollama.models_available == []
    assert heartbeat.memory.total_bytes == 16 * GIB
    assert heartbeat.status == "draining"


def test_simulated_device_memory_replaces_the_hosts() -> None:
    system = apply_simulated_device(
        fake_system(),
        {"memory_total_bytes": 128 * GIB, "memory_used_bytes": 120 * GIB, "num_parallel": 4},
    )
    assert system.memory.total_bytes == 128 * GIB
    assert system.memory.available_bytes == 8 * GIB
    assert system.memory.pressure == "warn"
    assert system.hardware.memory_bytes == 128 * GIB
    untouched = apply_simulated_device(fake_system(), {"num_parallel": 4})
    assert untouched.memory.total_bytes == 16 * GIB


def test_simulated_device_reports_its_own_chip_cores_and_disk() -> None:
    hardware = {
        "platform": "darwin",
        "arch": "arm64",
        "cpu_model": "Simulated M-Pro",
        "cpu_cores": 12,
        "disk_total_bytes": 1000 * 10**9,
        "disk_free_bytes": 900 * 10**9,
    }
    device = {"memory_total_bytes": 32 * GIB, "memory_used_bytes": 0, "hardware": hardware}
    system = apply_simulated_device(fake_system(), device)
    assert (system.hardware.platform, system.hardware.arch) == ("darwin", "arm64")
    assert system.hardware.cpu_model == "Simulated M-Pro" and system.cpu.cores == 12
    assert system.disk is not None and system.disk.total_bytes == 1000 * 10**9
    assert system.disk.free_bytes == 900 * 10**9 and system.disk.used_bytes == 100 * 10**9
    assert system.hardware.hostname == "box"  # the agent still runs on this host


def test_simulated_device_cpu_is_its_slot_usage_not_the_hosts() -> None:
    device = {
        "memory_total_bytes": 32 * GIB,
        "memory_used_bytes": 8 * GIB,
        "num_parallel": 2,
        "loaded": [{"name": "a", "in_flight": 2}, {"name": "b", "in_flight": 1}],
    }
    system = apply_simulated_device(fake_system(), device)
    assert system.cpu.utilization_pct == 75.0
    idle = apply_simulated_device(fake_system(), {**device, "loaded": []})
    assert idle.cpu.utilization_pct == 0.0


def test_system_collector_reads_this_machine(tmp_path) -> None:
    snapshot = SystemCollector(tmp_path / "does" / "not" / "exist").collect()
    assert snapshot.cpu.cores >= 1
    assert 0 <= snapshot.cpu.utilization_pct <= 100
    assert snapshot.memory.total_bytes > 0
    assert snapshot.memory.pressure in {"normal", "warn", "critical"}
    assert snapshot.disk is not None and snapshot.disk.total_bytes > 0
    assert snapshot.hardware.thermal_state in {"normal", "warm", "throttled", "unknown"}
    assert snapshot.hardware.hostname


def ollama_transport(*, sim_state: dict | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/tags":
            return httpx.Response(200, json=TAGS)
        if path == "/api/ps":
            return httpx.Response(200, json=PS)
        if path == "/api/version":
            return httpx.Response(200, json={"version": "0.6.1"})
        if path == "/_sim/state" and sim_state is not None:
            return httpx.Response(200, json=sim_state)
        return httpx.Response(404, json={"error": "not found"})

    return httpx.MockTransport(handler)


async def test_reader_reports_models_version_and_own_knobs() -> None:
    reader = OllamaReader(
        "http://ollama.test:11434",
        environ={"OLLAMA_NUM_PARALLEL": "3"},
        inspect_processes=False,
        transport=ollama_transport(),
    )
    try:
        snap = await reader.read()
    finally:
        await reader.aclose()
    assert snap.reachable
    assert snap.version == "0.6.1"
    assert [m.name for m in snap.loaded] == ["llama3.2:3b"]
    assert len(snap.available) == 2
    assert snap.knobs.num_parallel == 3


async def test_reader_in_simulate_mode_uses_the_simulators_settings() -> None:
    reader = OllamaReader(
        "http://sim.test:11434",
        simulated=True,
        environ={"OLLAMA_NUM_PARALLEL": "1"},
        transport=ollama_transport(sim_state={"num_parallel": 4, "max_loaded_models": 2}),
    )
    try:
        snap = await reader.read()
    finally:
        await reader.aclose()
    assert snap.knobs.num_parallel == 4
    assert snap.knobs.max_loaded_models == 2


async def test_reader_says_unreachable_when_ollama_is_down() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    reader = OllamaReader(
        "http://ollama.test:11434",
        environ={},
        inspect_processes=False,
        transport=httpx.MockTransport(refuse),
    )
    try:
        snap = await reader.read()
    finally:
        await reader.aclose()
    assert snap.reachable is False
    assert snap.loaded == [] and snap.available == []
