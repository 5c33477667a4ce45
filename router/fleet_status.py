"""The router's public ``GET /fleet/status`` response, and the one place wire bytes become GB.

Owns the models of the public status (field names from REFERENCE.md §2, which users and agents
depend on: ``memory{total_gb, used_gb, available_gb, pressure}``, models with ``size_gb``) and their
construction from a heartbeat's byte figures (``herd_contract.units.to_gb``). Readers inside the
router that work in GB (health, recommendations, management) read these views; nothing converts
bytes to GB anywhere else. No I/O.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from herd_contract.heartbeat import (
    AvailableModel,
    BackendInfo,
    Capabilities,
    CpuInfo,
    DiskInfo,
    HardwareInfo,
    LoadedModel,
    MemoryInfo,
    MemoryPressure,
    NodeStatus,
    OllamaInfo,
    ThermalState,
)
from herd_contract.units import to_gb


class HardwareView(BaseModel):
    hostname: str = ""
    platform: str = ""
    arch: str = ""
    cpu_model: str = ""
    memory_gb: float = 0.0
    memory_bandwidth_gbps: float | None = None
    gpu: str | None = None
    temperature_c: float | None = None
    thermal_state: ThermalState = "unknown"

    @classmethod
    def of(cls, hardware: HardwareInfo) -> HardwareView:
        facts = hardware.model_dump(exclude={"memory_bytes"})
        return cls(**facts, memory_gb=to_gb(hardware.memory_bytes))


class MemoryView(BaseModel):
    total_gb: float = 0.0
    used_gb: float = 0.0
    available_gb: float = 0.0
    pressure: MemoryPressure = "normal"
    swap_total_gb: float = 0.0
    swap_used_gb: float = 0.0

    @classmethod
    def of(cls, memory: MemoryInfo) -> MemoryView:
        return cls(
            total_gb=to_gb(memory.total_bytes),
            used_gb=to_gb(memory.used_bytes),
            available_gb=to_gb(memory.available_bytes),
            pressure=memory.pressure,
            swap_total_gb=to_gb(memory.swap_total_bytes),
            swap_used_gb=to_gb(memory.swap_used_bytes),
        )


class DiskView(BaseModel):
    path: str = ""
    total_gb: float = 0.0
    used_gb: float = 0.0
    free_gb: float = 0.0

    @classmethod
    def of(cls, disk: DiskInfo) -> DiskView:
        return cls(
            path=disk.path,
            total_gb=to_gb(disk.total_bytes),
            used_gb=to_gb(disk.used_bytes),
            free_gb=to_gb(disk.free_bytes),
        )


class LoadedModelView(LoadedModel):
    """A loaded model as the status shows it: Ollama's fields plus ``size_gb``."""

    size_gb: float = 0.0

    @classmethod
    def of(cls, model: LoadedModel) -> LoadedModelView:
        return cls(**model.model_dump(), size_gb=to_gb(model.size))


class AvailableModelView(AvailableModel):
    """A model on disk as the status shows it: Ollama's fields plus ``size_gb``."""

    size_gb: float = 0.0

    @classmethod
    def of(cls, model: AvailableModel) -> AvailableModelView:
        return cls(**model.model_dump(), size_gb=to_gb(model.size))


class OllamaView(BaseModel):
    url: str
    reachable: bool = True
    version: str = ""
    models_loaded: list[LoadedModelView] = Field(default_factory=list)
    models_available: list[AvailableModelView] = Field(default_factory=list)
    num_parallel: int | None = None
    max_loaded_models: int | None = None
    max_queue: int | None = None
    keep_alive: str | None = None
    context_length: int | None = None

    @classmethod
    def of(cls, ollama: OllamaInfo) -> OllamaView:
        knobs = ollama.model_dump(exclude={"models_loaded", "models_available"})
        return cls(
            **knobs,
            models_loaded=[LoadedModelView.of(m) for m in ollama.models_loaded],
            models_available=[AvailableModelView.of(m) for m in ollama.models_available],
        )


class QueueStats(BaseModel):
    pending: int = 0
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    concurrency: int = 1
    max_queue: int = 0


class NodeView(BaseModel):
    """One node as ``/fleet/status`` shows it."""

    model_config = ConfigDict(extra="allow")

    node_id: str
    status: NodeStatus
    draining: bool = False
    agent_version: str = ""
    last_seen: float = Field(description="Epoch seconds of the last heartbeat.")
    seconds_since_heartbeat: float
    ollama_url: str
    hardware: HardwareView
    cpu: CpuInfo
    memory: MemoryView
    disk: DiskView | None = None
    ollama: OllamaView
    capabilities: Capabilities = Field(default_factory=Capabilities)
    backends: list[BackendInfo] = Field(default_factory=list)
    requests_active: int = 0
    identity: dict[str, Any] | None = Field(
        default=None,
        description="The node's binding: host, address changes, a change waiting for approval.",
    )


class FleetSummary(BaseModel):
    nodes_total: int
    nodes_online: int
    nodes_degraded: int = 0
    nodes_offline: int = 0
    models_loaded: int
    models_available: int = 0
    requests_active: int
    requests_queued: int = 0


JobState = Literal["running", "done", "failed", "cancelled"]


class LayerProgress(BaseModel):
    digest: str
    total_bytes: int
    completed_bytes: int


class PullJobView(BaseModel):
    """One pull job as ``GET /dashboard/api/pulls/{id}`` shows it; sizes in bytes, times in
    seconds since the epoch."""

    id: str
    model: str
    node_id: str
    started_by: str = Field(
        description='"api", "dashboard", "auto" (a request for a missing model)'
    )
    state: JobState
    status: str = Field(description="The node's last progress status, e.g. 'pulling 2af3b81862c6'")
    completed_bytes: int
    total_bytes: int = Field(description="Bytes of the layers announced so far")
    percent: float | None
    rate_bytes_per_s: float | None = Field(description="Over the last ten seconds")
    eta_s: float | None
    layers: list[LayerProgress]
    started_at: float
    updated_at: float
    ended_at: float | None
    error: str | None


class FleetStatus(BaseModel):
    """``GET /fleet/status``."""

    fleet: FleetSummary
    nodes: list[NodeView]
    queues: dict[str, QueueStats] = Field(default_factory=dict)
    waiting: dict[str, int] = Field(
        default_factory=dict,
        description="Requests waiting in the router for a node, per model (late binding)",
    )
    router: dict[str, Any] = Field(default_factory=dict)
    pulls: list[PullJobView] = Field(
        default_factory=list, description="Pull jobs running or ended in the last ten minutes"
    )
