"""Routing-quality benchmark: herd against a round-robin proxy on the same simulated fleet.

Owns the comparison of issue 5: one seeded workload (Poisson arrivals of sessions over a mix of
small, medium and large models; about 30 % multi-turn chats of 2-4 turns sharing an opening; about
half the requests streaming; modest ``num_predict``) sent, with the same timing, to two fresh
fleets of three simulated Ollama servers (``workstation`` 128 GB fast, ``laptop`` 32 GB, ``mini``
16 GB slow; real memory limits, cold loads, LRU eviction):

- herd: ``python -m router`` with three ``python -m node --simulate PROFILE`` nodes;
- baseline: three ``python -m node.sim`` servers behind ``bench.roundrobin`` (the fair variant:
  it skips a node that lacks the model on disk, and is otherwise blind to load, memory and hotness).

Measured per side: end-to-end latency p50/p95/p99 and streaming TTFT p50/p95 (client clock),
errors, cold loads, reloads and evictions (the simulators' own counters, reset before the run),
answers by a model other than the one asked, and whether any crossed a category
(``router.model_size.category_of``). Prints a table and writes ``bench/results/fleet.json``.

The arrival rate is calibrated to ``LOAD`` (70 %) of the fleet's capacity, estimated from the
simulator's documented physics (see ``estimate_capacity``); the figure used is printed. Everything
runs on 127.0.0.1, every wait is bounded, and every process started here is stopped here. Never
asserts a target: it measures, says "target missed" when one is, and exits 0.
Run: ``python -m bench.fleet [--time-scale 0.1] [--window 40] [--seed 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from node.sim.catalogue import CATALOGUE, GIB, PROFILES, Profile
from router.model_names import normalize
from router.model_size import category_of
from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

RESULTS = Path(__file__).resolve().parent / "results" / "fleet.json"

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
LOAD = 0.70
CONTEXT_TOKENS = 4096
"""The simulators' default context window: the KV cache counted in the capacity estimate."""
REQUEST_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 90.0
"""After the last arrival, how long the sessions still running may take before being cut."""
START_TIMEOUT_S = 30.0
HEARTBEAT_S = 0.5
TARGET_P95_RATIO = 3.0

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


# --- the workload (pure) -------------------------------------------------------------------------


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


def build_workload(
    seed: int, requests_per_s: float, window_s: float, models: dict[str, list[str]]
) -> list[Session]:
    """Sessions arriving as a Poisson process whose *request* rate is ``requests_per_s``.

    ``models`` maps each class to the models present on at least one node's disk. A session is
    one request, or (``MULTI_TURN_SHARE``) a chat of 2-4 turns on one model, each turn repeating
    the conversation so far (same system prompt and opening) with a scripted assistant reply, so
    the request list is identical whatever the answers were.
    """
    rng = random.Random(seed)
    mean_turns = (1 - MULTI_TURN_SHARE) + MULTI_TURN_SHARE * (TURNS[0] + TURNS[1]) / 2
    session_rate = requests_per_s / mean_turns
    classes = [c for c in CLASS_WEIGHTS if models.get(c)]
    weights = [CLASS_WEIGHTS[c] for c in classes]
    sessions: list[Session] = []
    now = 0.0
    for session_id in range(100_000):  # bounded; the window ends it long before
        now += rng.expovariate(session_rate)
        if now >= window_s:
            break
        size_class = rng.choices(classes, weights)[0]
        model = rng.choice(models[size_class])
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
                body = {
                    "model": model,
                    "messages": list(messages),
                    "stream": rng.random() < STREAM_SHARE,
                    "options": _options(rng, size_class),
                }
                gap = 0.0 if not index else rng.uniform(0.2, 1.5)
                turns.append(Turn("/api/chat", body, gap))
        else:
            stream = rng.random() < STREAM_SHARE
            options = _options(rng, size_class)
            text = _words(rng, *PROMPT_WORDS)
            if rng.random() < GENERATE_SHARE:
                body = {"model": model, "prompt": text, "stream": stream, "options": options}
                turns.append(Turn("/api/generate", body, 0.0))
            else:
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": text}],
                    "stream": stream,
                    "options": options,
                }
                turns.append(Turn("/api/chat", body, 0.0))
        sessions.append(Session(session_id, now, model, size_class, tuple(turns)))
    return sessions


def present_models() -> dict[str, list[str]]:
    """Each class's models that at least one node of the fleet holds on disk."""
    on_disk = {normalize(m) for _, profile in NODES for m in PROFILES[profile].models}
    return {c: [m for m in names if m in on_disk] for c, names in CLASSES.items()}


# --- capacity (pure) ----------------------------------------------------------------------------


def _service_s(profile: Profile, model: str, prompt_tokens: float, output_tokens: float) -> float:
    spec = CATALOGUE[model]
    return prompt_tokens / profile.prompt_tps(spec) + output_tokens / profile.decode_tps(spec)


def estimate_capacity(models: dict[str, list[str]]) -> dict[str, Any]:
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
            shares[name] = CLASS_WEIGHTS[size_class] / len(names)
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
            for node_id, profile in NODES
            if model in {normalize(x) for x in PROFILES[profile].models}
        ]
        holders.sort(key=lambda item: -item[1].decode_tps(spec))
        for node_id, profile in holders:
            need = spec.loaded_size(CONTEXT_TOKENS, profile.num_parallel)
            fits = used[node_id] + need <= profile.memory_gb * GIB
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


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    session_id: int
    turn: int
    model: str
    size_class: str
    path: str
    stream: bool
    sent_at_s: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    status: int = 0
    error: str | None = None
    served_model: str | None = None
    fallback_header: str | None = None
    node: str | None = None


async def _send(
    client: httpx.AsyncClient, base: str, session: Session, index: int, t0: float
) -> Outcome:
    turn = session.turns[index]
    stream = bool(turn.body.get("stream"))
    out = Outcome(session.session_id, index, session.model, session.size_class, turn.path, stream)
    start = time.perf_counter()
    out.sent_at_s = start - t0
    try:
        async with client.stream(
            "POST", f"{base}{turn.path}", json=turn.body, timeout=REQUEST_TIMEOUT_S
        ) as reply:
            out.status = reply.status_code
            out.node = reply.headers.get("x-fleet-node")
            out.fallback_header = reply.headers.get("x-fleet-fallback")
            done = False
            if stream and reply.status_code == 200:
                async for line in reply.aiter_lines():
                    if not line.strip():
                        continue
                    chunk = json.loads(line)
                    if out.ttft_s is None:
                        out.ttft_s = time.perf_counter() - start
                    if "error" in chunk:
                        out.error = f"stream error: {chunk['error']}"
                        break
                    out.served_model = chunk.get("model", out.served_model)
                    if chunk.get("done"):
                        done = True
            else:
                raw = await reply.aread()
                data = json.loads(raw) if raw else {}
                if reply.status_code != 200 or "error" in data:
                    out.error = f"HTTP {reply.status_code}: {data.get('error', raw[:200])}"
                else:
                    out.served_model = data.get("model")
                    done = bool(data.get("done"))
            if out.error is None and not done:
                out.error = "no final chunk (done: true)"
    except (httpx.HTTPError, ValueError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    except asyncio.CancelledError:
        out.error = "unfinished when the drain deadline passed"
        out.latency_s = time.perf_counter() - start
        raise
    out.latency_s = time.perf_counter() - start
    return out


async def _run_session(
    client: httpx.AsyncClient, base: str, session: Session, t0: float, outcomes: list[Outcome]
) -> None:
    delay = t0 + session.start_s - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    for index, turn in enumerate(session.turns):
        if turn.gap_s:
            await asyncio.sleep(turn.gap_s)
        pending = Outcome(
            session.session_id,
            index,
            session.model,
            session.size_class,
            turn.path,
            bool(turn.body.get("stream")),
            sent_at_s=time.perf_counter() - t0,
            error="unfinished when the drain deadline passed",
        )
        position = len(outcomes)
        outcomes.append(pending)
        try:
            outcomes[position] = await _send(client, base, session, index, t0)
        except asyncio.CancelledError:
            pending.latency_s = time.perf_counter() - t0 - pending.sent_at_s
            raise


async def drive(base: str, sessions: list[Session], window_s: float) -> list[Outcome]:
    """Send every session's turns on schedule; cut whatever still runs at the deadline."""
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=2048, max_keepalive_connections=512)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        t0 = time.perf_counter()
        tasks = [
            asyncio.ensure_future(_run_session(client, base, s, t0, outcomes)) for s in sessions
        ]
        done, pending = await asyncio.wait(tasks, timeout=window_s + DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # a bug in this benchmark, not a routing error
    return outcomes


# --- fleets -------------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    base_url: str
    sims: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    def stop(self, show_output: bool = False) -> None:
        for proc in reversed(self.procs):
            if show_output:
                with contextlib.suppress(Exception):
                    tail = proc.output()[-1500:]
                    print(f"--- {proc.name} output (tail) ---\n{tail}", file=sys.stderr)
            with contextlib.suppress(Exception):
                proc.stop()
            with contextlib.suppress(OSError):
                Path(proc.log.name).unlink()


def _reset_sims(sims: dict[str, str]) -> None:
    for url in sims.values():
        httpx.post(f"{url}/_sim/reset", json={"unload": True}, timeout=10).raise_for_status()


def start_herd(time_scale: float, data_dir: Path) -> Side:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    side = Side("herd", url, {})
    args = ("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--no-mdns")
    try:
        router = Proc(python_module("router", *args), name="bench-router")
        side.procs.append(router)
        wait_http_ok(f"{url}/fleet/status", router, timeout=START_TIMEOUT_S)
        for node_id, profile in NODES:
            sim_port = free_port()
            proc = Proc(
                python_module(
                    "node",
                    "--simulate",
                    profile,
                    "--sim-port",
                    str(sim_port),
                    "--time-scale",
                    str(time_scale),
                    "--node-id",
                    node_id,
                    "--router-url",
                    url,
                    "--interval",
                    str(HEARTBEAT_S),
                    "--log-level",
                    "warning",
                ),
                name=f"bench-node-{node_id}",
            )
            side.procs.append(proc)
            side.sims[node_id] = f"http://127.0.0.1:{sim_port}"
            wait_http_ok(f"{side.sims[node_id]}/api/version", proc, timeout=START_TIMEOUT_S)

        def all_online() -> bool:
            nodes = httpx.get(f"{url}/fleet/status", timeout=5).json()["nodes"]
            ready = {
                n["node_id"]
                for n in nodes
                if n["status"] == "online" and n["ollama"]["models_available"]
            }
            return ready == {node_id for node_id, _ in NODES}

        wait_until(all_online, timeout=START_TIMEOUT_S, what="three nodes online")
        _reset_sims(side.sims)
        return side
    except BaseException:
        side.stop(show_output=True)
        raise


def start_roundrobin(time_scale: float) -> Side:
    side = Side("round-robin", "", {})
    try:
        for node_id, profile in NODES:
            port = free_port()
            proc = Proc(
                python_module(
                    "node.sim",
                    "--port",
                    str(port),
                    "--profile",
                    profile,
                    "--time-scale",
                    str(time_scale),
                ),
                name=f"bench-sim-{node_id}",
            )
            side.procs.append(proc)
            side.sims[node_id] = f"http://127.0.0.1:{port}"
            wait_http_ok(f"{side.sims[node_id]}/api/version", proc, timeout=START_TIMEOUT_S)
        port = free_port()
        upstreams = [arg for url in side.sims.values() for arg in ("--upstream", url)]
        proxy = Proc(
            python_module("bench.roundrobin", "--port", str(port), *upstreams), name="bench-rr"
        )
        side.procs.append(proxy)
        side.base_url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{side.base_url}/_rr", proxy, timeout=START_TIMEOUT_S)
        _reset_sims(side.sims)
        return side
    except BaseException:
        side.stop(show_output=True)
        raise


# --- reporting ----------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def _catalogue_category(name: str) -> str:
    """The simulator's own category of a model (its capabilities: thinking, vision, code...)."""
    spec = CATALOGUE.get(normalize(name))
    return spec.category if spec else category_of(normalize(name))


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def summarise(side: Side, outcomes: list[Outcome]) -> dict[str, Any]:
    latencies = [o.latency_s for o in outcomes]
    ttfts = [o.ttft_s for o in outcomes if o.stream and o.ttft_s is not None]
    errors = [o for o in outcomes if o.error]
    different = [
        o
        for o in outcomes
        if not o.error
        and (o.fallback_header or (o.served_model and normalize(o.served_model) != o.model))
    ]
    crossed = [
        o
        for o in different
        if category_of(normalize(o.fallback_header or o.served_model or o.model))
        != category_of(o.model)
    ]
    crossed_catalogue = [
        o
        for o in different
        if _catalogue_category(o.fallback_header or o.served_model or o.model)
        != _catalogue_category(o.model)
    ]
    per_node: dict[str, Any] = {}
    loads = evictions = reloads = 0
    for node_id, url in side.sims.items():
        state = httpx.get(f"{url}/_sim/state", timeout=10).json()
        records = httpx.get(f"{url}/_sim/records", timeout=30).json()["requests"]
        inference = [r for r in records if r.get("path") in ("/api/chat", "/api/generate")]
        node_loads = sum(state.get("loads", {}).values())
        node_reloads = sum(state.get("reloads", {}).values())
        loads += node_loads
        reloads += node_reloads
        evictions += state.get("evictions", 0)
        by_class: Counter[str] = Counter()
        for record in inference:
            name = normalize(str(record.get("model") or ""))
            by_class[next((c for c, ms in CLASSES.items() if name in ms), "other")] += 1
        per_node[node_id] = {
            "requests": len(inference),
            "requests_by_class": dict(by_class),
            "cold_loads": state.get("loads", {}),
            "reloads": state.get("reloads", {}),
            "evictions": state.get("evictions", 0),
            "loaded_at_end": [m["name"] for m in state.get("loaded", [])],
            "errors": sum(1 for r in inference if r.get("outcome") == "error"),
        }
    by_class_latency = {
        c: {
            "p50_ms": _ms(_pct([o.latency_s for o in outcomes if o.size_class == c], 50)),
            "p95_ms": _ms(_pct([o.latency_s for o in outcomes if o.size_class == c], 95)),
        }
        for c in CLASSES
    }
    return {
        "requests": len(outcomes),
        "latency_p50_ms": _ms(_pct(latencies, 50)),
        "latency_p95_ms": _ms(_pct(latencies, 95)),
        "latency_p99_ms": _ms(_pct(latencies, 99)),
        "latency_mean_ms": _ms(statistics.fmean(latencies) if latencies else None),
        "ttft_p50_ms": _ms(_pct(ttfts, 50)),
        "ttft_p95_ms": _ms(_pct(ttfts, 95)),
        "errors": len(errors),
        "error_samples": sorted({o.error or "" for o in errors})[:5],
        "cold_loads": loads,
        "reloads": reloads,
        "evictions": evictions,
        "different_model": len(different),
        "different_model_samples": sorted(
            {f"{o.model} -> {o.fallback_header or o.served_model}" for o in different}
        )[:10],
        "other_category": len(crossed),
        "other_category_by_catalogue": len(crossed_catalogue),
        "latency_by_class": by_class_latency,
        "nodes": per_node,
    }


def herd_routing(base_url: str) -> dict[str, Any]:
    """Where herd sent each model (from its traces), for the diagnosis of a missed target."""
    try:
        data = httpx.get(f"{base_url}/dashboard/api/traces", params={"limit": 1000}, timeout=30)
        rows = data.json().get("traces", [])
    except (httpx.HTTPError, ValueError):
        return {}
    table: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    for row in rows:
        asked = str(row.get("original_model") or row.get("model"))
        served = str(row.get("model"))
        where = str(row.get("node_id"))
        table[asked][where if served == asked else f"{where} as {served}"] += 1
        statuses[str(row.get("status"))] += 1
        if row.get("fallback_reason"):
            fallbacks[str(row["fallback_reason"])] += 1
    return {
        "traces": len(rows),
        "statuses": dict(statuses),
        "fallback_reasons": dict(fallbacks),
        "model_to_nodes": {m: dict(c) for m, c in sorted(table.items())},
    }


def _wait_idle(side: Side, timeout: float = 30.0) -> None:
    """Let trailing requests finish in the simulators before reading their counters."""

    def idle() -> bool:
        for url in side.sims.values():
            state = httpx.get(f"{url}/_sim/state", timeout=5).json()
            if any(m.get("in_flight") for m in state.get("loaded", [])) or any(
                state.get("queued", {}).values()
            ):
                return False
        return True

    with contextlib.suppress(TimeoutError):
        wait_until(idle, timeout=timeout, interval=0.2, what="simulators idle")


def run_side(
    name: str,
    time_scale: float,
    sessions: list[Session],
    window_s: float,
    herd_settings: dict[str, Any] | None = None,
) -> Any:
    with tempfile.TemporaryDirectory(prefix="herd-bench-fleet-") as tmp:
        started = time.monotonic()
        is_herd = name.startswith("herd")
        side = start_herd(time_scale, Path(tmp)) if is_herd else start_roundrobin(time_scale)
        try:
            if herd_settings:
                httpx.post(
                    f"{side.base_url}/dashboard/api/settings", json=herd_settings, timeout=10
                ).raise_for_status()
            print(f"[{name}] fleet up in {time.monotonic() - started:.1f}s; running...", flush=True)
            began = time.monotonic()
            outcomes = asyncio.run(drive(side.base_url, sessions, window_s))
            elapsed = time.monotonic() - began
            _wait_idle(side)
            summary = summarise(side, outcomes)
            summary["run_seconds"] = round(elapsed, 1)
            if is_herd:
                summary["settings"] = herd_settings or {}
                summary["routing"] = herd_routing(side.base_url)
            return summary
        finally:
            side.stop()


def _row(label: str, *cells: Any) -> str:
    return f"{label:<26}" + "".join(f"{'-' if v is None else str(v):>16}" for v in cells)


def main(argv: list[str] | None = None) -> int:
    """Run both sides, print the table, write the JSON; 0 even when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--window", type=float, default=30.0, help="arrival window, real seconds")
    parser.add_argument("--load", type=float, default=LOAD)
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also run herd with the vram_fallback setting off (a third, diagnostic column)",
    )
    args = parser.parse_args(argv if argv is not None else [])

    models = present_models()
    capacity = estimate_capacity(models)
    modelled = capacity["capacity_modelled_rps"]
    real_capacity = modelled / args.time_scale
    rate = args.load * real_capacity
    sessions = build_workload(args.seed, rate, args.window, models)
    requests = sum(len(s.turns) for s in sessions)
    print(
        f"fleet capacity (estimated from the simulator physics, ideal placement): "
        f"{modelled:.2f} req/s modelled = {real_capacity:.1f} req/s at time scale "
        f"{args.time_scale} (bottleneck {capacity['bottleneck_model']}); offered load "
        f"{args.load:.0%} = {rate:.1f} req/s; {len(sessions)} sessions, {requests} requests "
        f"over {args.window:.0f}s, seed {args.seed}",
        flush=True,
    )
    print("baseline: round-robin, fair variant (skips nodes lacking the model on disk)", flush=True)

    herd = run_side("herd", args.time_scale, sessions, args.window)
    rr = run_side("round-robin", args.time_scale, sessions, args.window)
    sides = [herd, rr]
    header = ["herd", "round-robin"]
    if args.diagnose:
        sides.append(
            run_side(
                "herd-no-vram-fallback",
                args.time_scale,
                sessions,
                args.window,
                {"vram_fallback": False},
            )
        )
        header.append("herd no-vramfb")

    herd_p95, rr_p95 = herd["latency_p95_ms"], rr["latency_p95_ms"]
    ratio = round(rr_p95 / herd_p95, 2) if herd_p95 and rr_p95 else None
    targets = {
        "p95_ratio_at_least_3x": bool(ratio and ratio >= TARGET_P95_RATIO),
        "herd_zero_errors": herd["errors"] == 0,
        "herd_no_other_category": herd["other_category"] == 0,
        "herd_no_other_category_by_sim_catalogue": herd["other_category_by_catalogue"] == 0,
    }
    print()
    print(f"{'':<26}" + "".join(f"{h:>16}" for h in header))
    for key, label in (
        ("requests", "requests"),
        ("latency_p50_ms", "latency p50 ms"),
        ("latency_p95_ms", "latency p95 ms"),
        ("latency_p99_ms", "latency p99 ms"),
        ("ttft_p50_ms", "TTFT p50 ms (stream)"),
        ("ttft_p95_ms", "TTFT p95 ms (stream)"),
        ("errors", "errors"),
        ("cold_loads", "cold loads"),
        ("reloads", "num_ctx reloads"),
        ("evictions", "evictions"),
        ("different_model", "answered by other model"),
        ("other_category", "  other category (router)"),
        ("other_category_by_catalogue", "  other category (sim)"),
    ):
        print(_row(label, *(side[key] for side in sides)))
    for size_class in CLASSES:
        cells = (side["latency_by_class"][size_class]["p95_ms"] for side in sides)
        print(_row(f"{size_class} p95 ms", *cells))
    print(f"\np95 ratio round-robin / herd: {ratio}x (target >= {TARGET_P95_RATIO}x)")
    if args.diagnose and sides[2]["latency_p95_ms"] and rr_p95:
        diag = round(rr_p95 / sides[2]["latency_p95_ms"], 2)
        print(f"diagnostic: round-robin / herd without vram_fallback p95: {diag}x")
    for name, ok in targets.items():
        print(f"  {name}: {'met' if ok else 'target missed'}")

    result = {
        "benchmark": "fleet routing quality: herd vs round-robin",
        "baseline": "round-robin, fair variant: request i to node i mod N, skipping nodes "
        "without the model on disk (static /api/tags at start); blind to load, memory, hotness",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "seed": args.seed,
        "time_scale": args.time_scale,
        "window_s": args.window,
        "load": args.load,
        "capacity": {
            "modelled_rps": round(modelled, 3),
            "real_rps": round(real_capacity, 2),
            "offered_rps": round(rate, 2),
            "bottleneck_model": capacity["bottleneck_model"],
            "placement": capacity["placement"],
            "method": estimate_capacity.__doc__,
        },
        "workload": {
            "sessions": len(sessions),
            "requests": requests,
            "multi_turn_sessions": sum(1 for s in sessions if len(s.turns) > 1),
            "streaming_requests": sum(1 for s in sessions for t in s.turns if t.body.get("stream")),
            "by_model": dict(Counter(s.model for s in sessions for _ in s.turns)),
        },
        "latency_note": "end-to-end client time per request; a request cut at the drain deadline "
        "counts with the time it had waited (a lower bound) and as an error",
        "herd": herd,
        "round_robin": rr,
        "herd_without_vram_fallback": sides[2] if args.diagnose else None,
        "p95_ratio_rr_over_herd": ratio,
        "targets": targets,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
