"""The fleet benchmark's workload and the capacity it is calibrated against.

Owns the simulated fleet's make-up (``NODES``: node id and simulator profile), the model classes
and their mix, one seeded workload (``build_workload``: Poisson arrivals of sessions over small,
medium and large models; about 30 % multi-turn chats of 2-4 turns sharing an opening; about half
the requests streaming; modest ``num_predict``) and ``estimate_capacity``, the fleet's capacity for
that mix from the simulator's documented physics.

Pure: same seed and inputs, same sessions; never reads a clock, starts a process or sends a
request (``bench.fleet_runner`` and ``bench.fleet_traffic`` do).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from herd_contract.model_names import normalize
from node.sim.catalogue import CATALOGUE, GIB, PROFILES, Profile

NODES: tuple[tuple[str, str], ...] = (
    ("workstation", "workstation"),
    ("laptop", "laptop"),
    ("mini", "mini"),
)
CLASSES: dict[str, tuple[str, ...]] = {
    "small": ("llama3.2:3b", "llama3.2:1b", "qwen3:0.6b"),
    "medium": ("llama3.1:8b", "qwen2.5-coder:7b", "qwen3:8b"),
    "large": ("qwen3:32b", "gemma3:27b", "llama3.3:70b"),
}
CLASS_WEIGHTS = {"small": 0.45, "medium": 0.35, "large": 0.20}
NUM_PREDICT = {"small": (48, 128), "medium": (48, 128), "large": (24, 64)}
"""Inclusive range of ``options.num_predict`` per class (the simulator generates exactly that)."""
PROMPT_WORDS = (12, 40)
MULTI_TURN_SHARE = 0.30
TURNS = (2, 4)
STREAM_SHARE = 0.50
GENERATE_SHARE = 0.30
"""Share of single-turn requests sent to ``/api/generate`` (the rest go to ``/api/chat``)."""
CONTEXT_TOKENS = 4096
"""The simulators' default context window: the KV cache counted in the capacity estimate."""

_VOCABULARY = tuple(
    " ".join(
        (
            "fleet router model token memory latency queue node stream answer question summary",
            "explain compare list write story code function test error retry python rust cache",
            "context window load evict weight quantize prompt reply chat turn fast slow large",
            "small budget plan design review the a of to in for with about why how what when",
        )
    ).split(" ")
)


# --- the workload ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    path: str
    body: dict[str, Any]
    gap_s: float
    """Real seconds to wait after the previous turn's answer before sending this one."""


@dataclass(frozen=True)
class Session:
    session_id: int
    start_s: float
    model: str
    size_class: str
    turns: tuple[Turn, ...]


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(low, high)))


def _options(rng: random.Random, size_class: str) -> dict[str, Any]:
    low, high = NUM_PREDICT[size_class]
    return {"num_predict": rng.randint(low, high), "temperature": 0.7, "seed": rng.randint(1, 9999)}


def _chat(
    model: str, messages: list[dict[str, str]], stream: bool, options: dict[str, Any]
) -> dict[str, Any]:
    return {"model": model, "messages": messages, "stream": stream, "options": options}


def build_workload(
    seed: int, requests_per_s: float, window_s: float, models: dict[str, list[str]]
) -> list[Session]:
    """Sessions arriving as a Poisson process whose *request* rate is ``requests_per_s``."""
    return build_sessions(seed, ((window_s, requests_per_s),), models, CLASS_WEIGHTS)


def build_sessions(
    seed: int,
    phases: Sequence[tuple[float, float]],
    models: Mapping[str, Sequence[str]],
    class_weights: Mapping[str, float],
) -> list[Session]:
    """Sessions arriving as a Poisson process, phase by phase: ``phases`` holds (end second,
    requests per second) in order, so a burst is one phase at a higher rate.

    ``models`` maps each class to the models present on at least one node's disk. A session is
    one request, or (``MULTI_TURN_SHARE``) a chat of 2-4 turns on one model, each turn repeating
    the conversation so far (same system prompt and opening) with a scripted assistant reply, so
    the request list is identical whatever the answers were.
    """
    rng = random.Random(seed)
    mean_turns = (1 - MULTI_TURN_SHARE) + MULTI_TURN_SHARE * (TURNS[0] + TURNS[1]) / 2
    classes = [c for c in class_weights if models.get(c)]
    weights = [class_weights[c] for c in classes]
    sessions: list[Session] = []
    now = 0.0
    for end_s, requests_per_s in phases:
        session_rate = requests_per_s / mean_turns
        for _ in range(100_000):  # bounded; the phase ends it long before
            now += rng.expovariate(session_rate) if session_rate > 0 else end_s
            if now >= end_s:
                now = end_s
                break
            size_class = rng.choices(classes, weights)[0]
            model = rng.choice(list(models[size_class]))
            turns = _turns(rng, len(sessions), model, size_class)
            sessions.append(Session(len(sessions), now, model, size_class, turns))
    return sessions


def _turns(rng: random.Random, session_id: int, model: str, size_class: str) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    if rng.random() < MULTI_TURN_SHARE:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": f"You are assistant {session_id}. Be concise."},
            {"role": "user", "content": _words(rng, *PROMPT_WORDS)},
        ]
        for index in range(rng.randint(*TURNS)):
            if index:
                messages = [
                    *messages,
                    {"role": "assistant", "content": _words(rng, 20, 60)},
                    {"role": "user", "content": _words(rng, 6, 20)},
                ]
            stream = rng.random() < STREAM_SHARE
            body = _chat(model, list(messages), stream, _options(rng, size_class))
            gap = 0.0 if not index else rng.uniform(0.2, 1.5)
            turns.append(Turn("/api/chat", body, gap))
        return tuple(turns)
    stream = rng.random() < STREAM_SHARE
    options = _options(rng, size_class)
    text = _words(rng, *PROMPT_WORDS)
    if rng.random() < GENERATE_SHARE:
        body = {"model": model, "prompt": text, "stream": stream, "options": options}
        return (Turn("/api/generate", body, 0.0),)
    body = _chat(model, [{"role": "user", "content": text}], stream, options)
    return (Turn("/api/chat", body, 0.0),)


def present_models() -> dict[str, list[str]]:
    """Each class's models that at least one node of the fleet holds on disk."""
    on_disk = {normalize(m) for _, profile in NODES for m in PROFILES[profile].models}
    return {c: [m for m in names if m in on_disk] for c, names in CLASSES.items()}


# --- capacity -------------------------------------------------------------------------------------


def _service_s(profile: Profile, model: str, prompt_tokens: float, output_tokens: float) -> float:
    spec = CATALOGUE[model]
    return prompt_tokens / profile.prompt_tps(spec) + output_tokens / profile.decode_tps(spec)


def estimate_capacity(
    models: Mapping[str, Sequence[str]],
    nodes: Sequence[tuple[str, str]] = NODES,
    class_weights: Mapping[str, float] = CLASS_WEIGHTS,
    memory_gb: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The fleet's capacity in requests per *modelled* second for this mix, from the physics.

    Placement: models in decreasing size, each loaded once on the fastest node that holds it on
    disk and still has memory (weights + KV cache at ``CONTEXT_TOKENS`` x num_parallel) and a
    loaded-model slot; no cold loads after that (what a model-aware router can aim for). A model
    on a node serves at most ``num_parallel / (t x (1 + batch_penalty x (num_parallel - 1)))``
    requests per second, ``t`` its mean service time (prompt + decode). The fleet's capacity is
    the request rate at which the busiest model reaches that limit: ``min(cap_m / share_m)``.
    """
    prompt_tokens = (sum(PROMPT_WORDS) / 2) * 5.5 / 4 + 20  # ~5.5 chars a word, ceil(chars / 4)
    shares: dict[str, float] = {}
    for size_class, names in models.items():
        for name in names:
            shares[name] = class_weights[size_class] / len(names)
    total_share = sum(shares.values())
    shares = {m: s / total_share for m, s in shares.items()}
    size_class_of = {m: c for c, names in models.items() for m in names}
    used: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    placement: dict[str, dict[str, Any]] = {}
    for model in sorted(shares, key=lambda m: -CATALOGUE[m].size):
        spec = CATALOGUE[model]
        holders = [
            (node_id, PROFILES[profile])
            for node_id, profile in nodes
            if model in {normalize(x) for x in PROFILES[profile].models}
        ]
        holders.sort(key=lambda item: -item[1].decode_tps(spec))
        for node_id, profile in holders:
            need = spec.loaded_size(CONTEXT_TOKENS, profile.num_parallel)
            memory = (memory_gb or {}).get(node_id, profile.memory_gb)
            fits = used[node_id] + need <= memory * GIB
            if fits and count[node_id] < profile.max_loaded_models:
                used[node_id] += need
                count[node_id] += 1
                low, high = NUM_PREDICT[size_class_of[model]]
                t = _service_s(profile, model, prompt_tokens, (low + high) / 2)
                parallel = profile.num_parallel
                cap = parallel / (t * (1 + profile.batch_penalty * (parallel - 1)))
                placement[model] = {"node": node_id, "service_s": t, "capacity_rps": cap}
                break
        else:
            placement[model] = {"node": None, "service_s": math.inf, "capacity_rps": 0.0}
    limits = {m: p["capacity_rps"] / shares[m] for m, p in placement.items()}
    bottleneck = min(limits, key=lambda m: limits[m])
    return {
        "capacity_modelled_rps": limits[bottleneck],
        "bottleneck_model": bottleneck,
        "placement": placement,
        "shares": shares,
    }
