"""The typed results of herd-mcp's tools: what clients get as outputSchema and structuredContent.

Owns one pydantic model per tool result. The router's answers are read through
``herd_mcp.router_views`` (herd-mcp imports no router code); where the router's JSON is still
settling (usage, traces, insights, apps, settings) the models keep unknown keys
(``extra="allow"``) so a new field never breaks a tool. No I/O, no logic beyond shapes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from herd_mcp.router_views import FleetView, PullJob

ChangeStatus = Literal[
    "done", "running", "needs_confirmation", "declined", "cancelled", "refused", "failed"
]
"""What a changing tool did: ``done`` acted; ``running`` started work that goes on after the call
(a pull job); ``needs_confirmation`` only previewed (two-step flow);
``declined``/``cancelled`` the user said no or closed the question; ``refused`` the server would not
act (bad token, impossible plan); ``failed`` the router reported an error while acting."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class NodeProblem(BaseModel):
    node_id: str
    status: str
    what_to_check: str = Field(description="What a person should look at; herd-mcp fixes nothing.")


class FleetStatusResult(FleetView):
    """``GET /fleet/status`` plus what needs a person's attention."""

    problems: list[NodeProblem] = Field(default_factory=list)
    advice: list[str] = Field(default_factory=list)


class ModelEntry(BaseModel):
    name: str
    kind: str = Field(
        default="ollama", description="ollama, openai (LLM server), image or stt (speech-to-text)."
    )
    nodes: list[str] = Field(description="Online nodes that hold the model on disk.")
    loaded_on: list[str] = Field(default_factory=list, description="Nodes with it in memory.")
    hot: bool = Field(description="Loaded in memory somewhere (answers without a cold load).")
    size_gb: float = 0.0
    parameter_size: str = ""
    quantization_level: str = ""
    family: str = ""


class ModelListResult(BaseModel):
    models: list[ModelEntry]
    count: int
    advice: list[str] = Field(default_factory=list)


class LoadedEntry(BaseModel):
    name: str
    node_id: str
    size_gb: float = 0.0
    size_vram_gb: float = 0.0
    context_length: int = 0
    expires_at: str = ""


class LoadedModelsResult(BaseModel):
    models: list[LoadedEntry]
    count: int
    advice: list[str] = Field(default_factory=list)


class FindModelResult(BaseModel):
    model: str = Field(description="The name as herd keys it (``name:tag``).")
    found: bool
    kind: str = Field(default="ollama", description="ollama, openai, image or stt.")
    served_by: list[str] = Field(
        default_factory=list, description="Nodes whose openai/image/stt backend serves it."
    )
    loaded_on: list[str] = Field(default_factory=list)
    on_disk: list[str] = Field(default_factory=list, description="Holding it, not loaded.")
    unreachable_holders: list[str] = Field(
        default_factory=list, description="Degraded/offline nodes that last reported it."
    )
    similar: list[str] = Field(default_factory=list, description="Other tags of the same model.")
    summary: str
    advice: list[str] = Field(default_factory=list)


class _ChangeBase(BaseModel):
    status: ChangeStatus
    message: str = Field(description="What happened, in a sentence to pass on to the user.")
    confirm_token: str | None = Field(
        default=None, description="Only with needs_confirmation: pass it back after the user's yes."
    )
    token_expires_in_s: float | None = None


class PullResult(_ChangeBase):
    model: str
    node_id: str | None = None
    download_gb: float | None = Field(default=None, description="About this much to download.")
    disk_free_gb: float | None = None
    disk_free_after_gb: float | None = None
    job_id: str | None = Field(default=None, description="The router's pull job (pull_status).")
    job: PullJob | None = Field(default=None, description="The job when the call returned.")


class PullStatusResult(BaseModel):
    pulls: list[PullJob] = Field(description="Running jobs and those ended in the last minutes.")
    count: int
    summary: str
    lines: list[str] = Field(default_factory=list, description="One sentence per job.")


class CancelPullResult(_ChangeBase):
    job_id: str
    model: str | None = None
    node_id: str | None = None
    percent: float | None = Field(default=None, description="How far it got before the stop.")
    job: PullJob | None = None


class DeleteResult(_ChangeBase):
    model: str
    node_id: str
    freed_gb: float | None = None
    disk_free_gb: float | None = None
    disk_free_after_gb: float | None = None
    deleted: list[str] = Field(default_factory=list)


SettingValue = bool | int | float


class SettingsUpdateResult(_ChangeBase):
    changes: dict[str, SettingValue] = Field(default_factory=dict)
    previous: dict[str, Any] = Field(default_factory=dict)
    toggles: dict[str, Any] = Field(default_factory=dict, description="All toggles afterwards.")


class TraceRow(_Open):
    request_id: str | None = None
    model: str | None = None
    node_id: str | None = None
    status: str | None = None
    latency_ms: float | None = None
    timestamp: float | None = None
    error_message: str | None = None


class TracesResult(BaseModel):
    traces: list[TraceRow]
    count: int
    filters: dict[str, Any] = Field(default_factory=dict)


class UsageResult(BaseModel):
    days: int
    usage: dict[str, Any] = Field(description="``/dashboard/api/usage`` as the router sent it.")


class ModelInsightsResult(BaseModel):
    days: int
    models: list[dict[str, Any]]
    extra: dict[str, Any] = Field(default_factory=dict)


class AppAnalyticsResult(BaseModel):
    days: int
    apps: list[dict[str, Any]]
    extra: dict[str, Any] = Field(default_factory=dict)


class Toggles(_Open):
    auto_pull: bool | None = None
    vram_fallback: bool | None = None
    context_protection: bool | None = None
    session_affinity: bool | None = None
    zombie_reaper: bool | None = None
    restore_evicted: bool | None = None
    resume_streams: bool | None = None
    reaper_timeout_s: float | None = None
    max_retries: int | None = None
    trace_retention_days: int | None = None


class NodeVersion(_Open):
    node_id: str
    agent_version: str | None = None
    ollama_version: str | None = None
    status: str | None = None


class SettingsResult(BaseModel):
    toggles: Toggles
    config: dict[str, Any] = Field(default_factory=dict)
    nodes: list[NodeVersion] = Field(default_factory=list)
    router_version: str = ""


class InferenceResult(BaseModel):
    model: str = Field(description="The model that answered.")
    requested_model: str
    node_id: str | None = Field(description="From X-Fleet-Node.")
    latency_ms: float = Field(description="Request sent to final chunk, as herd-mcp measured it.")
    time_to_first_chunk_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_s: float | None = None
    load_ms: float | None = Field(default=None, description="Cold-load time, from the final chunk.")
    score: float | None = Field(default=None, description="From X-Fleet-Score.")
    retries: int = Field(default=0, description="From X-Fleet-Retries.")
    fallback_model: str | None = Field(default=None, description="From X-Fleet-Fallback.")
    done_reason: str | None = None
    reply: str
