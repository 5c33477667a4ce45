"""The wire contract between herd's processes, defined once.

Owns the heartbeat a node sends to the router and the router's public fleet-status response. The
node agent, the router and the MCP server all import these models; nothing here does I/O.
Field names follow REFERENCE.md §2 exactly: users and agents already depend on them. Unknown extra
fields in a heartbeat are refused (``extra="forbid"``) so that a typo in an agent shows up at once
as a 422 instead of silently dropping data.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MemoryPressure = Literal["normal", "warn", "critical"]
ThermalState = Literal["normal", "warm", "throttled", "unknown"]
NodeStatus = Literal["online", "degraded", "offline"]

MAX_HEARTBEAT_BYTES = 1_048_576
"""A heartbeat larger than this is refused before it is parsed (413)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)


class CpuInfo(_Strict):
    cores: int = Field(ge=1, le=4096)
    utilization_pct: float = Field(ge=0, le=100)
    load_1m: float | None = Field(default=None, ge=0)
    load_5m: float | None = Field(default=None, ge=0)


class MemoryInfo(_Strict):
    total_gb: float = Field(ge=0)
    used_gb: float = Field(ge=0)
    available_gb: float = Field(ge=0)
    pressure: MemoryPressure = "normal"
    swap_total_gb: float = Field(default=0, ge=0)
    swap_used_gb: float = Field(default=0, ge=0)


class DiskInfo(_Strict):
    path: str = Field(default="", max_length=4096)
    total_gb: float = Field(ge=0)
    used_gb: float = Field(ge=0)
    free_gb: float = Field(ge=0)


class HardwareInfo(_Strict):
    hostname: str = Field(default="", max_length=255)
    platform: str = Field(default="", max_length=64)
    arch: str = Field(default="", max_length=64)
    cpu_model: str = Field(default="", max_length=255)
    memory_gb: float = Field(default=0, ge=0)
    memory_bandwidth_gbps: float | None = Field(
        default=None, ge=0, description="Memory bandwidth; decode speed is bound by it."
    )
    gpu: str | None = Field(default=None, max_length=255)
    temperature_c: float | None = Field(default=None, ge=-50, le=200)
    thermal_state: ThermalState = "unknown"


class ModelDetails(BaseModel):
    """Ollama's ``details`` object; passed through untouched, unknown keys kept."""

    model_config = ConfigDict(extra="allow")

    parent_model: str = ""
    format: str = ""
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class LoadedModel(BaseModel):
    """One entry of the node's ``/api/ps``, plus herd's convenience fields."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=512)
    model: str = Field(default="", max_length=512)
    size: int = Field(default=0, ge=0)
    size_gb: float = Field(default=0, ge=0)
    size_vram: int = Field(default=0, ge=0)
    digest: str = Field(default="", max_length=256)
    details: ModelDetails = Field(default_factory=ModelDetails)
    expires_at: str = ""
    context_length: int = Field(default=0, ge=0)


class AvailableModel(BaseModel):
    """One entry of the node's ``/api/tags``, plus herd's convenience fields."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=512)
    model: str = Field(default="", max_length=512)
    size: int = Field(default=0, ge=0)
    size_gb: float = Field(default=0, ge=0)
    digest: str = Field(default="", max_length=256)
    modified_at: str = ""
    details: ModelDetails = Field(default_factory=ModelDetails)
    context_length: int = Field(default=0, ge=0)


class OllamaInfo(_Strict):
    url: str = Field(max_length=2048, description="Where the router reaches this node's Ollama.")
    reachable: bool = True
    version: str = Field(default="", max_length=64)
    models_loaded: list[LoadedModel] = Field(default_factory=list, max_length=256)
    models_available: list[AvailableModel] = Field(default_factory=list, max_length=4096)
    num_parallel: int | None = Field(
        default=None, ge=1, le=1024, description="OLLAMA_NUM_PARALLEL when the agent can see it."
    )
    max_loaded_models: int | None = Field(default=None, ge=1, le=1024)
    max_queue: int | None = Field(default=None, ge=1)
    keep_alive: str | None = Field(default=None, max_length=32)
    context_length: int | None = Field(default=None, ge=1)


class Capabilities(_Strict):
    """Non-LLM work the node can take besides Ollama."""

    image_generation: bool = False
    speech_to_text: bool = False
    image_models: list[str] = Field(default_factory=list, max_length=64)
    stt_models: list[str] = Field(default_factory=list, max_length=64)


BackendKind = Literal["ollama", "openai", "image", "stt"]


class BackendInfo(_Strict):
    """One inference server on the node besides (or as well as) its default Ollama.

    ``url`` is where the router sends its requests: an ``openai`` server's own base URL, or for
    ``image`` and ``stt`` the agent's job gateway (``/herd/images``, ``/herd/transcriptions``).
    """

    kind: BackendKind
    adapter: str = Field(default="", max_length=64, description="mflux, openai, qwen3-asr...")
    url: str = Field(max_length=2048)
    models: list[str] = Field(default_factory=list, max_length=4096)
    reachable: bool = True
    capacity: int = Field(default=1, ge=1, le=1024, description="Jobs it runs at once.")
    busy: int = Field(default=0, ge=0, le=1_000_000, description="Jobs running or waiting.")
    detail: str = Field(default="", max_length=1000)


class Heartbeat(_Strict):
    """What a node agent posts to ``POST /fleet/heartbeat`` every few seconds."""

    node_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")
    agent_version: str = Field(default="", max_length=64)
    status: Literal["online", "draining"] = "online"
    interval_s: float = Field(default=5.0, gt=0, le=3600)
    sent_at: float = Field(default=0.0, ge=0, description="Agent's wall clock, epoch seconds.")
    hardware: HardwareInfo = Field(default_factory=HardwareInfo)
    cpu: CpuInfo
    memory: MemoryInfo
    disk: DiskInfo | None = None
    ollama: OllamaInfo
    capabilities: Capabilities = Field(default_factory=Capabilities)
    backends: list[BackendInfo] = Field(default_factory=list, max_length=64)
    """Backends besides ``ollama`` (older agents send none)."""
    user_active: bool | None = Field(
        default=None, description="Whether someone is using the device (when the OS says)."
    )


class HeartbeatAck(BaseModel):
    ok: bool = True
    node_id: str
    status: NodeStatus
    router_version: str
    heartbeat_interval_s: float
    node_key: str | None = Field(
        default=None,
        description="Issued once: the agent sends it as X-Herd-Node-Key on later heartbeats.",
    )


# --- the router's public status -----------------------------------------------------------------


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
    hardware: HardwareInfo
    cpu: CpuInfo
    memory: MemoryInfo
    disk: DiskInfo | None = None
    ollama: OllamaInfo
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
    router: dict[str, Any] = Field(default_factory=dict)
    pulls: list[PullJobView] = Field(
        default_factory=list, description="Pull jobs running or ended in the last ten minutes"
    )
