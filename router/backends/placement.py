"""Where a request for a model served by a non-Ollama backend can go, best first.

Owns the candidates among the nodes' ``openai``, ``image`` and ``stt`` backends (the heartbeat's
``backends``): a backend is a candidate when its node is routable, it is reachable, it lists the
model and its kind fits the request (chat, generate and embeddings go to ``openai`` backends and
to further Ollamas of the node; images to ``image``: an mflux, an OpenAI-style image server or
the node's Ollama with image models; transcriptions to ``stt``). Each gets an expected finish
time in seconds, like the Ollama estimate: one job's typical duration (the median of the jobs
that node:model finished, ``router.latency.SpeedHistory.job_seconds``, with ``JOB_SECONDS`` per
kind as the prior before the first one) times the rounds of work ahead of it, where the work
ahead is the jobs the node reports running or waiting plus the router's own pending and
in-flight requests for it, divided by the backend's capacity (an mflux backend has capacity 1:
one image at a time). Also answers which kinds of backend serve a model anywhere, so a request
on the wrong endpoint is told which one to use. Pure: nodes, queue depths and exclusions are
passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from herd_contract.heartbeat import BackendInfo, BackendKind, NodeStatus
from herd_contract.model_names import normalize
from router.registry import NodeRecord, reachable_ollama_url

_LLM: tuple[BackendKind, ...] = ("ollama", "openai")
REQUEST_BACKEND: dict[str, tuple[BackendKind, ...]] = {
    "chat": _LLM,
    "generate": _LLM,
    "embed": _LLM,
    "embeddings": _LLM,
    "image": ("image",),
    "transcribe": ("stt",),
}
"""The backend kinds (besides the node's default Ollama) that serve each request kind."""


def serves(backend: BackendInfo, request_kind: str) -> bool:
    """Whether ``backend``'s kind takes a request of ``request_kind``; an Ollama's image models
    also take Ollama's own ``/api/generate`` (its native image API)."""
    if backend.kind in REQUEST_BACKEND.get(request_kind, ()):
        return True
    return request_kind == "generate" and backend.kind == "image" and backend.adapter == "ollama"


ENDPOINTS: dict[str, str] = {
    "llm": "POST /api/chat, /api/generate or /v1/chat/completions",
    "image": "POST /api/generate-image or /v1/images/generations",
    "stt": "POST /api/transcribe or /v1/audio/transcriptions",
}
JOB_SECONDS: dict[str, float] = {"ollama": 5.0, "openai": 5.0, "image": 20.0, "stt": 10.0}
"""A job's duration before the router has seen one on that backend."""
DEGRADED_PENALTY = 2.0
"""A degraded node's estimate is multiplied by this (its heartbeats are late)."""


class Depths(Protocol):
    """Live queue depths: (node_id, model) -> (pending, in_flight, ...)."""

    def get(self, key: tuple[str, str], default: Any = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class BackendChoice:
    node_id: str
    kind: BackendKind
    adapter: str
    url: str
    capacity: int
    estimate_s: float
    load: float


def backend_choices(
    nodes: Iterable[tuple[NodeRecord, NodeStatus]],
    model: str,
    request_kind: str,
    depths: Depths,
    excluded: set[str],
    observed_s: Mapping[tuple[str, str], float] | None = None,
) -> list[BackendChoice]:
    """The backends that can serve ``model`` for a request of ``request_kind``, soonest
    finished first. ``observed_s`` holds typical seconds per (node, model) when known."""
    key = normalize(model)
    choices: list[BackendChoice] = []
    for record, status in nodes:
        if record.node_id in excluded:
            continue
        for backend in record.heartbeat.backends:
            if not serves(backend, request_kind) or not backend.reachable:
                continue
            if key not in {normalize(m) for m in backend.models}:
                continue
            pending, in_flight = depths.get((record.node_id, key), (0, 0))[:2]
            load = (max(backend.busy, in_flight) + pending) / backend.capacity
            job_s = (observed_s or {}).get((record.node_id, key), JOB_SECONDS[backend.kind])
            estimate = job_s * (1 + int(load))
            if status != "online":
                estimate *= DEGRADED_PENALTY
            url = reachable_ollama_url(backend.url, record.source_ip)
            choices.append(
                BackendChoice(
                    record.node_id, backend.kind, backend.adapter, url, backend.capacity,
                    round(estimate, 4), round(load, 4),
                )
            )  # fmt: skip
            break
    return sorted(choices, key=lambda c: (c.estimate_s, c.load, c.node_id))


def kinds_serving(records: Iterable[NodeRecord], model: str) -> set[str]:
    """Which of ``llm``, ``image``, ``stt`` serve ``model`` somewhere in the fleet."""
    key = normalize(model)
    kinds: set[str] = set()
    for record in records:
        if key in record.available_models or key in record.loaded_models:
            kinds.add("llm")
        for backend in record.heartbeat.backends:
            if key in {normalize(m) for m in backend.models}:
                kinds.add("llm" if backend.kind in ("ollama", "openai") else backend.kind)
    return kinds


def wrong_endpoint(kinds: set[str], request_kind: str) -> str | None:
    """The message for a model asked for on an endpoint of the wrong kind, or None."""
    asked: str = "llm"
    if request_kind in ("image", "transcribe"):
        asked = REQUEST_BACKEND[request_kind][0]
    if not kinds or asked in kinds:
        return None
    names = {"llm": "a language model", "image": "an image model", "stt": "a speech-to-text model"}
    other = sorted(kinds)[0]
    return f"this is {names[other]}: use {ENDPOINTS[other]}"


def explain(records: Iterable[NodeRecord], model: str, request_kind: str) -> str:
    """Why no backend took a request for ``model``: each matching backend and its state."""
    wanted = REQUEST_BACKEND.get(request_kind, ())
    key = normalize(model)
    reasons: list[str] = []
    for record in records:
        for backend in record.heartbeat.backends:
            if not serves(backend, request_kind) or key not in {
                normalize(m) for m in backend.models
            }:
                continue
            state = "unreachable" if not backend.reachable else f"busy ({backend.busy} jobs)"
            detail = f": {backend.detail}" if backend.detail and not backend.reachable else ""
            reasons.append(
                f"{record.node_id}'s {backend.adapter} {backend.kind} backend is {state}{detail}"
            )
    return "; ".join(reasons) or f"no {' or '.join(wanted)} backend lists it"
