"""The recommender's data in and out: ``UsageSummary`` (the fleet's traffic, counted by the edge)
and the response models ``ModelRecommendation``, ``RemovableModel``, ``NodeRecommendation`` and
``RecommendationsReport`` behind ``GET /dashboard/api/recommendations``.

Owns those shapes. It must never plan, read a clock, or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

# --- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """The fleet's traffic over the last ``window_days`` days, as the edge counted it.

    ``requests_by_model`` keys are model names as requested (normalised here);
    ``requests_by_category`` keys are catalogue categories (``chat``, ``code``, ``reasoning``,
    ``vision``, ``embedding``; ``embed``/``embeddings`` are accepted for embedding). When the
    category counts are empty they are derived from the model counts.
    """

    window_days: float = 7.0
    requests_by_model: Mapping[str, int] = field(default_factory=dict)
    requests_by_category: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        by_category = sum(max(0, n) for n in self.requests_by_category.values())
        return by_category or sum(max(0, n) for n in self.requests_by_model.values())

    @property
    def is_empty(self) -> bool:
        return self.total_requests == 0


# --- output --------------------------------------------------------------------------------------


class ModelRecommendation(BaseModel):
    model: str = Field(description="Name to use on the node (the installed name when present).")
    category: str
    size_gb: float = Field(description="Weights on disk and in memory, GB.")
    quality: int = Field(description="Catalogue quality figure, 0-100 (a rough ranking aid).")
    reason: str
    already_installed: bool
    loaded: bool
    action: str = Field(description='"keep" or "ollama pull <model>" on this node.')
    roles: list[str] = Field(default_factory=list)
    memory_gb: float = Field(default=0.0, description="Memory when loaded, KV cache included.")
    kv_cache_gb: float = 0.0
    download_gb: float = 0.0
    requests: int = Field(default=0, description="Requests for this model in the usage window.")
    est_tokens_per_s: float | None = None


class RemovableModel(BaseModel):
    model: str
    size_gb: float = Field(description="Disk freed by deleting it, GB.")
    reason: str


class NodeRecommendation(BaseModel):
    node_id: str
    memory_gb: float
    usable_gb: float
    disk_free_gb: float | None
    recommended: list[ModelRecommendation] = Field(default_factory=list)
    total_recommended_gb: float = Field(
        default=0.0, description="Memory the whole mix needs loaded at once."
    )
    removable: list[RemovableModel] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    disk_budget_gb: float | None = Field(
        default=None, description="Free disk minus the reserve: what downloads may use."
    )
    download_gb: float = 0.0
    removable_gb: float = 0.0
    model_size_cap_gb: float | None = Field(
        default=None, description="Per-model memory cap from the fleet role split, if any."
    )


class RecommendationsReport(BaseModel):
    nodes: list[NodeRecommendation]
    generated_from: dict[str, Any] = Field(default_factory=dict)
