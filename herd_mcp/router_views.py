"""What herd-mcp reads of the router's JSON answers: the fields it uses, everything else kept.

herd-mcp is a client of the router's HTTP API and imports none of the router's code, so it names
here the parts of ``GET /fleet/status``, ``/dashboard/api/health``,
``/dashboard/api/recommendations`` and the pull job endpoints that its plans, advice and panel
read. Every model keeps the fields it
does not name (``extra="allow"``): a tool's structured result carries the router's whole answer,
and a new router field never breaks a tool. Shapes only; no I/O, no logic.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ModelDetailsView(_Open):
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""


class ModelView(_Open):
    """A model on a node's disk or in its memory."""

    name: str
    size: int = 0
    size_gb: float = 0.0
    size_vram: int = 0
    context_length: int = 0
    expires_at: str = ""
    details: ModelDetailsView = Field(default_factory=ModelDetailsView)


class OllamaView(_Open):
    reachable: bool = True
    models_loaded: list[ModelView] = Field(default_factory=list)
    models_available: list[ModelView] = Field(default_factory=list)


class MemoryView(_Open):
    total_gb: float = 0.0
    used_gb: float = 0.0
    available_gb: float = 0.0
    pressure: str = "normal"


class DiskView(_Open):
    total_gb: float = 0.0
    free_gb: float = 0.0


class BackendView(_Open):
    """A backend besides the node's Ollama: an OpenAI-compatible, image or speech server."""

    kind: str
    adapter: str = ""
    models: list[str] = Field(default_factory=list)
    reachable: bool = True
    capacity: int = 1
    busy: int = 0


class NodeView(_Open):
    node_id: str
    status: Literal["online", "degraded", "offline"]
    draining: bool = False
    ollama_url: str = ""
    seconds_since_heartbeat: float = 0.0
    memory: MemoryView = Field(default_factory=MemoryView)
    disk: DiskView | None = None
    ollama: OllamaView = Field(default_factory=OllamaView)
    backends: list[BackendView] = Field(default_factory=list)


class FleetSummaryView(_Open):
    nodes_total: int = 0
    nodes_online: int = 0


class LayerView(_Open):
    digest: str
    total_bytes: int = 0
    completed_bytes: int = 0


class PullJob(_Open):
    """A pull job as ``GET /dashboard/api/pulls/{id}`` answers it (sizes in bytes)."""

    id: str
    model: str
    node_id: str
    state: Literal["running", "done", "failed", "cancelled"]
    status: str = ""
    completed_bytes: int = 0
    total_bytes: int = 0
    percent: float | None = None
    rate_bytes_per_s: float | None = None
    eta_s: float | None = None
    started_at: float = 0.0
    ended_at: float | None = None
    error: str | None = None


class FleetView(_Open):
    """``GET /fleet/status``."""

    fleet: FleetSummaryView = Field(default_factory=FleetSummaryView)
    nodes: list[NodeView] = Field(default_factory=list)
    pulls: list[PullJob] = Field(default_factory=list)


class PullPlanView(_Open):
    """``POST /dashboard/api/pulls/plan``: where a pull would go and whether it fits (bytes)."""

    model: str
    node_id: str | None = None
    chosen_by: str = "caller"
    memory_needed_bytes: int | None = None
    memory_total_bytes: int | None = None
    download_bytes: int | None = None
    disk_free_bytes: int | None = None
    disk_free_after_bytes: int | None = None
    already_there: bool = False
    fits: bool = False
    reason: str | None = None


class Finding(_Open):
    """One health finding."""

    check_id: str = ""
    severity: Literal["info", "warning", "critical"]
    title: str
    description: str = ""
    fix: str = ""
    node_id: str | None = None


class HealthView(_Open):
    """``GET /dashboard/api/health``."""

    score: int
    status: Literal["healthy", "warning", "critical"]
    vitals: dict[str, Any] = Field(default_factory=dict)
    checks: list[Finding] = Field(default_factory=list)


class RecommendationsView(_Open):
    """``GET /dashboard/api/recommendations``."""

    nodes: list[dict[str, Any]] = Field(default_factory=list)
