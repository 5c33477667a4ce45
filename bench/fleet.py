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

Here: the command line, the table, the targets and the JSON. The workload and the capacity
estimate are ``bench.workload``, the fleets ``bench.fleet_runner``, the requests
``bench.fleet_traffic``, the figures ``bench.fleet_summary``.
Run: ``python -m bench.fleet [--time-scale 0.1] [--window 40] [--seed 5]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.fleet_runner import run_side
from bench.workload import CLASSES, build_workload, estimate_capacity, present_models

RESULTS = Path(__file__).resolve().parent / "results" / "fleet.json"
LOAD = 0.70
TARGET_P95_RATIO = 3.0


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
    print(_row("", *header))
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
