"""The heartbeat: what a node agent posts to the router's ``POST /fleet/heartbeat``.

Owns the heartbeat's models and its size limit; nothing here does I/O. Every size is in bytes, in a
field named ``*_bytes`` (``herd_contract.units``); the model entries are Ollama's own ``/api/ps``
and ``/api/tags`` objects, whose ``size`` and ``size_vram`` are bytes as well. Unknown extra fields
are refused (``extra="forbid"``) so that a typo in an agent shows up at once as a 422 instead of
silently dropping data. The router's public ``/fleet/status`` (GB figures, REFERENCE.md's names) is
the router's own model, built from these.
"""

from __future__ import annotations

from typing import Literal

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
    """The device's memory, in bytes."""

    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    available_bytes: int = Field(ge=0)
    pressure: MemoryPressure = "normal"
    swap_total_bytes: int = Field(default=0, ge=0)
    swap_used_bytes: int = Field(default=0, ge=0)


class DiskInfo(_Strict):
    """The disk that holds the models, in bytes."""

    path: str = Field(default="", max_length=4096)
    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)


class HardwareInfo(_Strict):
    hostname: str = Field(default="", max_length=255)
    platform: str = Field(default="", max_length=64)
    arch: str = Field(default="", max_length=64)
    cpu_model: str = Field(default="", max_length=255)
    memory_bytes: int = Field(default=0, ge=0)
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
    size: int = Field(default=0, ge=0, description="Bytes in memory (Ollama's field).")
    size_vram: int = Field(default=0, ge=0)
    digest: str = Field(default="", max_length=256)
    details: ModelDetails = Field(default_factory=ModelDetails)
    expires_at: str = ""
    context_length: int = Field(default=0, ge=0, description="The window it was loaded with.")


class AvailableModel(BaseModel):
    """One entry of the node's ``/api/tags``, plus herd's convenience fields."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=512)
    model: str = Field(default="", max_length=512)
    size: int = Field(default=0, ge=0, description="Bytes on disk (Ollama's field).")
    digest: str = Field(default="", max_length=256)
    modified_at: str = ""
    details: ModelDetails = Field(default_factory=ModelDetails)
    context_length: int = Field(
        default=0, ge=0, description="The model's trained window (``/api/show``), 0 when unknown."
    )
    capabilities: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Ollama's capabilities (``completion``, ``embedding``, ``image``...) from"
        " ``/api/tags`` or ``/api/show``; None when unknown.",
    )
    weights_blob: str = Field(
        default="",
        max_length=128,
        description="The weights' file in Ollama's blob store (``sha256-<hex>``, from"
        " ``/api/show``'s modelfile): Ollama unloads idle models of equal keep-alive in the"
        " order of that path; empty when unknown.",
    )


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
