"""What one device reports about itself: system metrics from psutil and the state of its Ollama.

Owns the pure classifications (memory pressure, thermal state, Ollama concurrency knobs), the
snapshots the agent turns into a heartbeat, and the two collectors at the edge: ``SystemCollector``
(psutil, always called through ``asyncio.to_thread`` by the agent) and ``OllamaReader`` (httpx).
It never talks to the router and never blocks the event loop: every psutil call and file read is
in the synchronous half that runs in a worker thread.

Units: every size is reported in bytes (``*_bytes`` fields; Ollama's ``size`` is bytes too), as the
contract says (``herd_contract.units``); the agent never converts to GB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from pydantic import ValidationError

from herd_contract.heartbeat import (
    AvailableModel,
    CpuInfo,
    DiskInfo,
    HardwareInfo,
    Heartbeat,
    LoadedModel,
    MemoryInfo,
    MemoryPressure,
    OllamaInfo,
    ThermalState,
)
from node import __version__
from node.model_windows import ContextWindows

log = logging.getLogger("herd.node.collectors")

# --- memory pressure ------------------------------------------------------------------------------

PRESSURE_WARN_AVAILABLE = 0.15
"""Below this fraction of total memory available, pressure is ``warn``."""
PRESSURE_CRITICAL_AVAILABLE = 0.05
"""Below this fraction available, pressure is ``critical``: loading anything would thrash."""
SWAP_ACTIVE_BYTES_PER_S = 1 * 1024**2
"""Swapping in or out faster than this (1 MiB/s) counts as active swapping."""
SWAP_ESCALATE_AVAILABLE = 0.30
"""While actively swapping, pressure rises one level once available memory is below this
fraction (``normal`` -> ``warn``, ``warn`` -> ``critical``): the kernel is already paging."""


def classify_memory_pressure(
    total_bytes: int, available_bytes: int, swap_activity_bytes_per_s: float = 0.0
) -> MemoryPressure:
    """Memory pressure from the available fraction of memory and how hard the system swaps.

    - ``critical``: available < 5 % of total, or available < 15 % while actively swapping;
    - ``warn``: available < 15 %, or available < 30 % while actively swapping;
    - ``normal`` otherwise (idle swap that was filled long ago does not count).
    """
    if total_bytes <= 0:
        return "normal"
    fraction = max(0.0, available_bytes) / total_bytes
    if fraction < PRESSURE_CRITICAL_AVAILABLE:
        level = 2
    elif fraction < PRESSURE_WARN_AVAILABLE:
        level = 1
    else:
        level = 0
    if swap_activity_bytes_per_s > SWAP_ACTIVE_BYTES_PER_S and fraction < SWAP_ESCALATE_AVAILABLE:
        level = min(2, level + 1)
    return ("normal", "warn", "critical")[level]


def swap_activity(previous: tuple[float, int] | None, current: tuple[float, int]) -> float:
    """Bytes per second swapped in+out between two ``(monotonic time, sin + sout)`` samples."""
    if previous is None:
        return 0.0
    elapsed = current[0] - previous[0]
    moved = current[1] - previous[1]
    if elapsed <= 0 or moved <= 0:
        return 0.0
    return moved / elapsed


# --- thermal state --------------------------------------------------------------------------------

WARM_DEFAULT_C = 80.0
"""Used as the "high" mark when a sensor does not report one."""
THROTTLE_DEFAULT_C = 95.0
"""Used as the "critical" mark when a sensor does not report one."""


def classify_thermal(
    current_c: float | None, high_c: float | None = None, critical_c: float | None = None
) -> ThermalState:
    """``throttled`` at or above the sensor's critical mark (hardware slows itself down there),
    ``warm`` at or above its high mark, ``normal`` below, ``unknown`` without a reading."""
    if current_c is None:
        return "unknown"
    critical = critical_c if critical_c and critical_c > 0 else THROTTLE_DEFAULT_C
    high = high_c if high_c and high_c > 0 else min(WARM_DEFAULT_C, critical)
    if current_c >= critical:
        return "throttled"
    if current_c >= high:
        return "warm"
    return "normal"


def hottest_sensor(
    readings: Mapping[str, list[Any]],
) -> tuple[float | None, float | None, float | None]:
    """``(current, high, critical)`` of the hottest plausible sensor in psutil's reading."""
    best: tuple[float | None, float | None, float | None] = (None, None, None)
    for entries in readings.values():
        for entry in entries:
            current = getattr(entry, "current", None)
            if current is None or not -50 <= current <= 200:
                continue
            if best[0] is None or current > best[0]:
                best = (
                    float(current),
                    getattr(entry, "high", None),
                    getattr(entry, "critical", None),
                )
    return best


# --- Ollama concurrency knobs ---------------------------------------------------------------------

OLLAMA_KNOB_ENV = (
    "OLLAMA_NUM_PARALLEL",
    "OLLAMA_MAX_LOADED_MODELS",
    "OLLAMA_MAX_QUEUE",
    "OLLAMA_KEEP_ALIVE",
    "OLLAMA_CONTEXT_LENGTH",
)


@dataclass(frozen=True, slots=True)
class OllamaKnobs:
    """The Ollama server settings that shape capacity, when the agent can see them."""

    num_parallel: int | None = None
    max_loaded_models: int | None = None
    max_queue: int | None = None
    keep_alive: str | None = None
    context_length: int | None = None

    def merged_over(self, base: OllamaKnobs) -> OllamaKnobs:
        """These values where known, ``base``'s otherwise."""
        return OllamaKnobs(
            num_parallel=self.num_parallel or base.num_parallel,
            max_loaded_models=self.max_loaded_models or base.max_loaded_models,
            max_queue=self.max_queue or base.max_queue,
            keep_alive=self.keep_alive or base.keep_alive,
            context_length=self.context_length or base.context_length,
        )


def _positive_int(raw: Any, upper: int | None = None) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if value < 1 or (upper is not None and value > upper):
        return None
    return value


def parse_ollama_knobs(environ: Mapping[str, str]) -> OllamaKnobs:
    """Read the knobs from an environment; malformed or out-of-range values count as unknown."""
    keep_alive = (environ.get("OLLAMA_KEEP_ALIVE") or "").strip()
    return OllamaKnobs(
        num_parallel=_positive_int(environ.get("OLLAMA_NUM_PARALLEL"), 1024),
        max_loaded_models=_positive_int(environ.get("OLLAMA_MAX_LOADED_MODELS"), 1024),
        max_queue=_positive_int(environ.get("OLLAMA_MAX_QUEUE")),
        keep_alive=keep_alive[:32] or None,
        context_length=_positive_int(environ.get("OLLAMA_CONTEXT_LENGTH")),
    )


def is_ollama_serve(name: str, cmdline: list[str]) -> bool:
    """Whether a process looks like ``ollama serve``."""
    exe = os.path.basename(cmdline[0]) if cmdline else name
    return exe.lower() in {"ollama", "ollama.exe"} and "serve" in cmdline[1:]


def read_serve_process_environ() -> dict[str, str]:
    """Best effort: the Ollama knob variables of a running ``ollama serve``, empty when unseen.

    Blocking (walks the process table): call it in a worker thread. Processes the agent may not
    inspect (``AccessDenied``), or that vanish meanwhile, are skipped.
    """
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            info = proc.info
            if not is_ollama_serve(info.get("name") or "", info.get("cmdline") or []):
                continue
            env = proc.environ()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            continue
        return {k: v for k, v in env.items() if k in OLLAMA_KNOB_ENV}
    return {}


# --- system snapshot ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    hardware: HardwareInfo
    cpu: CpuInfo
    memory: MemoryInfo
    disk: DiskInfo | None


def _cpu_model() -> str:
    """The CPU's marketing name (blocking: reads /proc or asks sysctl; called in a thread)."""
    if sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()[:255]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in {"model name", "Model", "Hardware"} and value.strip():
                    return value.strip()[:255]
    except OSError:
        pass
    return (platform.processor() or platform.machine())[:255]


def _existing_dir(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.home()


def default_disk_path(models_dir: str | None) -> Path:
    """Ollama's models directory when known (or at its default place), else the home directory."""
    if models_dir:
        return Path(models_dir).expanduser()
    default = Path.home() / ".ollama" / "models"
    return default if default.exists() else Path.home()


class SystemCollector:
    """psutil readings of this device. Every method here blocks: run ``collect`` in a thread."""

    def __init__(self, disk_path: Path | None = None) -> None:
        self.disk_path = disk_path or default_disk_path(None)
        self._swap_sample: tuple[float, int] | None = None
        self._static: tuple[str, str, str, str] | None = None
        psutil.cpu_percent(interval=None)  # prime: later calls measure since the previous one

    def _static_facts(self) -> tuple[str, str, str, str]:
        if self._static is None:
            self._static = (
                socket.gethostname()[:255],
                platform.system().lower()[:64],
                platform.machine().lower()[:64],
                _cpu_model(),
            )
        return self._static

    def collect(self) -> SystemSnapshot:
        hostname, system, arch, cpu_model = self._static_facts()
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        sample = (time.monotonic(), int(getattr(swap, "sin", 0) + getattr(swap, "sout", 0)))
        activity = swap_activity(self._swap_sample, sample)
        self._swap_sample = sample
        load_1m: float | None
        load_5m: float | None
        try:
            load_1m, load_5m, _ = psutil.getloadavg()
        except (OSError, AttributeError):
            load_1m = load_5m = None
        temperature = high = critical = None
        reader = getattr(psutil, "sensors_temperatures", None)
        if reader is not None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                temperature, high, critical = hottest_sensor(reader() or {})
        disk: DiskInfo | None
        try:
            where = _existing_dir(self.disk_path)
            usage = psutil.disk_usage(str(where))
            disk = DiskInfo(
                path=str(where)[:4096],
                total_bytes=int(usage.total),
                used_bytes=int(usage.used),
                free_bytes=int(usage.free),
            )
        except OSError:
            disk = None
        total = int(vm.total)
        return SystemSnapshot(
            hardware=HardwareInfo(
                hostname=hostname,
                platform=system,
                arch=arch,
                cpu_model=cpu_model,
                memory_bytes=total,
                temperature_c=temperature,
                thermal_state=classify_thermal(temperature, high, critical),
            ),
            cpu=CpuInfo(
                cores=max(1, psutil.cpu_count(logical=True) or 1),
                utilization_pct=min(100.0, max(0.0, psutil.cpu_percent(interval=None))),
                load_1m=max(0.0, load_1m) if load_1m is not None else None,
                load_5m=max(0.0, load_5m) if load_5m is not None else None,
            ),
            memory=MemoryInfo(
                total_bytes=total,
                used_bytes=max(0, total - int(vm.available)),
                available_bytes=int(vm.available),
                pressure=classify_memory_pressure(total, int(vm.available), activity),
                swap_total_bytes=int(swap.total),
                swap_used_bytes=int(swap.used),
            ),
            disk=disk,
        )


# --- Ollama ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OllamaSnapshot:
    reachable: bool
    version: str = ""
    loaded: list[LoadedModel] = field(default_factory=list)
    available: list[AvailableModel] = field(default_factory=list)
    knobs: OllamaKnobs = field(default_factory=OllamaKnobs)
    device: dict[str, Any] = field(default_factory=dict)
    """Simulator only: the simulated device's facts from ``/_sim/state`` (memory, name...)."""


def parse_models(payload: Any, kind: type[LoadedModel] | type[AvailableModel]) -> list[Any]:
    """Models of an ``/api/ps`` or ``/api/tags`` body, bad entries dropped."""
    entries = payload.get("models") if isinstance(payload, dict) else None
    models: list[Any] = []
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        data = dict(entry)
        if not data.get("name") and data.get("model"):
            data["name"] = data["model"]
        try:
            models.append(kind.model_validate(data))
        except ValidationError as exc:
            log.warning(
                "dropping a malformed model entry",
                extra={"entry": str(entry)[:200], "error": str(exc)[:300]},
            )
    return models


class OllamaReader:
    """Reads one Ollama (or the simulator) over HTTP. Never raises for an unreachable server."""

    def __init__(
        self,
        base_url: str,
        *,
        simulated: bool = False,
        timeout_s: float = 5.0,
        environ: Mapping[str, str] | None = None,
        inspect_processes: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.simulated = simulated
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_s, transport=transport, trust_env=False
        )
        self._windows = ContextWindows(self._client)
        self._own_knobs = parse_ollama_knobs(os.environ if environ is None else environ)
        self._inspect = inspect_processes and not simulated
        self._process_knobs = OllamaKnobs()
        self._process_checked_at: float | None = None

    PROCESS_RECHECK_S = 60.0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str) -> Any:
        response = await self._client.get(path)
        response.raise_for_status()
        return response.json()

    async def _knobs(self) -> OllamaKnobs:
        now = time.monotonic()
        if self._inspect and (
            self._process_checked_at is None
            or now - self._process_checked_at >= self.PROCESS_RECHECK_S
        ):
            self._process_checked_at = now
            try:
                env = await asyncio.to_thread(read_serve_process_environ)
            except Exception as exc:  # best effort by design
                log.debug("could not inspect ollama serve", extra={"error": str(exc)})
                env = {}
            self._process_knobs = parse_ollama_knobs(env)
        # The running server's own environment is the truth; ours is the fallback.
        return self._process_knobs.merged_over(self._own_knobs)

    async def _sim_state(self) -> tuple[OllamaKnobs, dict[str, Any]]:
        try:
            state = await self._get("/_sim/state")
        except (httpx.HTTPError, ValueError):
            return OllamaKnobs(), {}
        if not isinstance(state, dict):
            return OllamaKnobs(), {}
        knobs = parse_ollama_knobs(
            {
                "OLLAMA_NUM_PARALLEL": str(state.get("num_parallel", "")),
                "OLLAMA_MAX_LOADED_MODELS": str(state.get("max_loaded_models", "")),
                "OLLAMA_MAX_QUEUE": str(state.get("max_queue", "")),
                "OLLAMA_KEEP_ALIVE": str(state.get("keep_alive") or ""),
                "OLLAMA_CONTEXT_LENGTH": str(state.get("context_length", "")),
            }
        )
        return knobs, state

    async def read(self) -> OllamaSnapshot:
        try:
            ps, tags = await asyncio.gather(self._get("/api/ps"), self._get("/api/tags"))
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("ollama unreachable", extra={"url": self.base_url, "error": str(exc)})
            return OllamaSnapshot(reachable=False, knobs=await self._knobs())
        try:
            version_body = await self._get("/api/version")
            version = (
                str(version_body.get("version", ""))[:64] if isinstance(version_body, dict) else ""
            )
        except (httpx.HTTPError, ValueError):
            version = ""
        knobs = await self._knobs()
        device: dict[str, Any] = {}
        if self.simulated:
            sim_knobs, device = await self._sim_state()
            knobs = sim_knobs.merged_over(knobs)
        return OllamaSnapshot(
            reachable=True,
            version=version,
            loaded=parse_models(ps, LoadedModel),
            available=await self._windows.fill(parse_models(tags, AvailableModel)),
            knobs=knobs,
            device=device,
        )


# --- the heartbeat --------------------------------------------------------------------------------


def _device_int(device: Mapping[str, Any], key: str) -> int | None:
    value = device.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def apply_simulated_device(system: SystemSnapshot, device: Mapping[str, Any]) -> SystemSnapshot:
    """Replace the host's memory figures with the simulated device's, when the simulator says.

    Recognised keys in ``/_sim/state``: ``memory_total_bytes`` and ``memory_used_bytes``,
    ``memory_bandwidth_gbps``, and ``hardware`` (platform, arch, cpu_model, cpu_cores, disk).
    """
    total = _device_int(device, "memory_total_bytes")
    if not total:
        return system
    used = min(total, _device_int(device, "memory_used_bytes") or 0)
    available = total - used
    memory = system.memory.model_copy(
        update={
            "total_bytes": total,
            "available_bytes": available,
            "used_bytes": used,
            "pressure": classify_memory_pressure(total, available),
        }
    )
    hardware = system.hardware.model_copy(update={"memory_bytes": total})
    bandwidth = device.get("memory_bandwidth_gbps")
    if isinstance(bandwidth, int | float) and not isinstance(bandwidth, bool) and bandwidth >= 0:
        hardware = hardware.model_copy(update={"memory_bandwidth_gbps": float(bandwidth)})
    # The host's CPU is shared by every simulated node on it and says nothing about the simulated
    # device: report how busy the simulated device's inference slots are instead.
    cpu = system.cpu.model_copy(update={"utilization_pct": simulated_cpu_pct(device)})
    simulated = SystemSnapshot(hardware=hardware, cpu=cpu, memory=memory, disk=system.disk)
    facts = device.get("hardware")
    return _with_simulated_hardware(simulated, facts) if isinstance(facts, Mapping) else simulated


def _with_simulated_hardware(system: SystemSnapshot, facts: Mapping[str, Any]) -> SystemSnapshot:
    """The simulated device's chip, platform, cores and disk (``/_sim/state``'s ``hardware``)."""
    names = {k: str(facts[k])[:255] for k in ("platform", "arch", "cpu_model") if facts.get(k)}
    hardware = system.hardware.model_copy(update=names)
    cores = _device_int(facts, "cpu_cores")
    cpu = system.cpu.model_copy(update={"cores": cores}) if cores else system.cpu
    disk = system.disk
    total, free = _device_int(facts, "disk_total_bytes"), _device_int(facts, "disk_free_bytes")
    if total and free is not None:
        free = min(free, total)
        disk = DiskInfo(
            path="(simulated)", total_bytes=total, used_bytes=total - free, free_bytes=free
        )
    return SystemSnapshot(hardware=hardware, cpu=cpu, memory=system.memory, disk=disk)


def simulated_cpu_pct(device: Mapping[str, Any]) -> float:
    """Share of the simulated device's generation slots in use, as a CPU percentage."""
    loaded = device.get("loaded")
    parallel = device.get("num_parallel")
    if not isinstance(loaded, list) or not loaded or not isinstance(parallel, int) or parallel < 1:
        return 0.0
    busy = sum(int(m.get("in_flight", 0)) for m in loaded if isinstance(m, dict))
    return round(min(100.0, 100.0 * busy / (parallel * len(loaded))), 1)


def build_heartbeat(
    *,
    node_id: str,
    ollama_url: str,
    system: SystemSnapshot,
    ollama: OllamaSnapshot,
    interval_s: float,
    sent_at: float,
    status: str = "online",
) -> Heartbeat:
    """The heartbeat for one tick: pure, from snapshots; validated by ``Heartbeat`` itself."""
    if ollama.device:
        system = apply_simulated_device(system, ollama.device)
    knobs = ollama.knobs
    return Heartbeat(
        node_id=node_id,
        agent_version=__version__,
        status=status,  # type: ignore[arg-type]  # validated by the model
        interval_s=interval_s,
        sent_at=sent_at,
        hardware=system.hardware,
        cpu=system.cpu,
        memory=system.memory,
        disk=system.disk,
        ollama=OllamaInfo(
            url=ollama_url,
            reachable=ollama.reachable,
            version=ollama.version if ollama.reachable else "",
            models_loaded=list(ollama.loaded) if ollama.reachable else [],
            models_available=list(ollama.available) if ollama.reachable else [],
            num_parallel=knobs.num_parallel,
            max_loaded_models=knobs.max_loaded_models,
            max_queue=knobs.max_queue,
            keep_alive=knobs.keep_alive,
            context_length=knobs.context_length,
        ),
    )
