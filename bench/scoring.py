"""Benchmark of the scorer: one routing decision over a 100-node fleet holding 50 models each.

Builds the fleet once (as the router does per heartbeat), then times ``router.scoring.rank`` for a
stream of requests with live queue loads, learned speeds, demand and session maps. Prints mean /
p50 / p99 microseconds per decision and writes them to ``bench/results/scoring.json``.
Run: ``python -m bench.scoring``. Never asserts a speed: it measures.
"""

from __future__ import annotations

import functools
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from router.scoring import (
    LoadedInfo,
    ModelSpeed,
    NodeSnapshot,
    NodeSpeed,
    QueueLoad,
    RouteRequest,
    Speeds,
    rank,
)

NODES = 100
MODELS_PER_NODE = 50
LOADED_PER_NODE = 3
DECISIONS = 2000
WARMUP = 200
RESULTS = Path(__file__).resolve().parent / "results" / "scoring.json"


def build_fleet(
    seed: int = 7,
) -> tuple[list[NodeSnapshot], list[str], dict[tuple[str, str], QueueLoad], Speeds]:
    """A mixed fleet: snapshots, the model catalogue, queue loads and learned speeds."""
    rng = random.Random(seed)
    # Every node holds every model: each request has the whole fleet as candidates (worst case).
    catalogue = [
        f"model{i:03d}:{rng.choice((1, 3, 8, 14, 32, 70))}b" for i in range(MODELS_PER_NODE)
    ]
    sizes = {name: int(name.rsplit(":", 1)[1][:-1]) * 600_000_000 for name in catalogue}
    nodes: list[NodeSnapshot] = []
    queues: dict[tuple[str, str], QueueLoad] = {}
    measured: dict[tuple[str, str], ModelSpeed] = {}
    node_speeds: dict[str, NodeSpeed] = {}
    for index in range(NODES):
        node_id = f"node-{index:03d}"
        total = rng.choice((16.0, 32.0, 64.0, 128.0, 192.0))
        models = rng.sample(catalogue, MODELS_PER_NODE)
        loaded_names = models[:LOADED_PER_NODE]
        loaded = {
            name: LoadedInfo(sizes[name] + 500_000_000, 4096, 0)
            for name in loaded_names
            if sizes[name] < total * 0.5e9
        }
        used = sum(info.size_bytes for info in loaded.values()) / 1e9
        nodes.append(
            NodeSnapshot(
                node_id=node_id,
                state="degraded" if index % 17 == 0 else "online",
                memory_total_gb=total,
                memory_available_gb=max(1.0, total - used - 4.0),
                pressure="warn" if index % 11 == 0 else "normal",
                thermal=rng.choice(("normal", "normal", "warm", "throttled", "unknown")),
                bandwidth_gbps=rng.choice((None, 100.0, 200.0, 400.0, 800.0)),
                cpu_history=tuple(rng.uniform(0, 100) for _ in range(6)),
                user_active=rng.random() < 0.3,
                num_parallel=rng.choice((None, 1, 2, 4)),
                loaded=loaded,
                on_disk={name: sizes[name] for name in models},
                recently_unloaded={models[5]: 1_000.0},
                disk_free_gb=200.0,
            )
        )
        if index % 2:
            node_speeds[node_id] = NodeSpeed(rng.uniform(50, 500), 8.0, rng.uniform(1, 6))
        for name in models[:10]:
            in_flight = rng.randint(0, 2)
            queues[(node_id, name)] = (rng.randint(0, 3), in_flight, in_flight * 3.0)
            if rng.random() < 0.7:
                measured[(node_id, name)] = ModelSpeed(rng.uniform(5, 150), 400.0, 4.0, 20)
    outputs = {name: 200.0 for name in catalogue[::2]}
    return nodes, catalogue, queues, Speeds(measured, node_speeds, outputs)


def main() -> dict[str, float]:
    nodes, catalogue, queues, speeds = build_fleet()
    rng = random.Random(11)
    requests = [
        RouteRequest(
            model=rng.choice(catalogue),
            size_bytes=8_000_000_000,
            prompt_tokens=rng.randint(10, 6000),
            num_ctx=rng.choice((None, None, 8192)),
            session_key=f"s{rng.randint(0, 50)}",
        )
        for _ in range(DECISIONS)
    ]
    sessions = {f"s{i}": f"node-{i:03d}" for i in range(50)}
    demand = {name: 0.05 for name in catalogue}
    decide = functools.partial(
        rank, nodes, now=1_200.0, queues=queues, speeds=speeds, demand=demand, sessions=sessions
    )
    for request in requests[:WARMUP]:
        decide(request)
    timings_us: list[float] = []
    candidates = 0
    clock = time.perf_counter_ns
    for request in requests:
        start = clock()
        decision = decide(request)
        timings_us.append((clock() - start) / 1000.0)
        candidates += len(decision.ranked)
    timings_us.sort()
    result = {
        "nodes": NODES,
        "models_per_node": MODELS_PER_NODE,
        "decisions": DECISIONS,
        "mean_candidates": candidates / DECISIONS,
        "mean_us": statistics.fmean(timings_us),
        "p50_us": timings_us[len(timings_us) // 2],
        "p99_us": timings_us[int(len(timings_us) * 0.99) - 1],
        "max_us": timings_us[-1],
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    print(
        f"scoring: {NODES} nodes x {MODELS_PER_NODE} models, {DECISIONS} decisions, "
        f"{result['mean_candidates']:.1f} candidates each: "
        f"mean {result['mean_us']:.1f} us, p50 {result['p50_us']:.1f} us, "
        f"p99 {result['p99_us']:.1f} us per decision"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
