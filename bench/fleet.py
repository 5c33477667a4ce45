"""Routing-quality benchmark: herd against round-robin, least-connections and a clairvoyant bound.

Runs the four scenarios of ``bench.scenarios`` (memory pressure, speed skew, a burst, a node going
away and coming back), each with several seeds, on fresh simulated fleets (real processes on
127.0.0.1: ``python -m router`` with ``python -m node --simulate`` agents, or ``node.sim`` servers
behind ``bench.roundrobin``), and computes for the same workload the greedy clairvoyant schedule
(``bench.clairvoyant``) and the no-wait bound (``bench.no_wait``: each request alone, hot, on its
fastest node, which no router can beat). Per scenario it prints, for each side, per class
p50/p95/p99 latency and time to first token (modelled seconds), cold loads, evictions,
substitutions, errors, the longest wait for a first token, the median and the worst seed; then the
targets of issue 9, each "met" or "target missed" (it never fails on a missed target: it measures).

Every run is written to ``bench/results/fleet/<label>/<scenario>/<side>-seed<N>.json``. Baseline
runs are kept under the label ``baselines`` and reused while the scenario and seed are unchanged
(they do not depend on herd), so comparing a new router costs only its own runs. Run: ``python -m
bench.fleet [--scenario NAME ...] [--seeds 5] [--label after] [--sides herd]``; ``--report
before,after`` prints the table from stored runs without running anything.

Here: the command line, the storage, the table and the targets. Scenarios are ``bench.scenarios``,
fleets ``bench.fleet_runner``, figures ``bench.fleet_summary``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.clairvoyant import schedule
from bench.fleet_runner import run_side
from bench.fleet_summary import by_class
from bench.no_wait import alone
from bench.scenarios import SCENARIOS, Scenario

RESULTS = Path(__file__).resolve().parent / "results" / "fleet"
BASELINES = ("round-robin", "least-connections")
BASELINE_LABEL = "baselines"
BOUND = "clairvoyant"
NO_WAIT = "no-wait bound"
TARGET_VS_LEAST_CONNECTIONS = 0.5
TARGET_WORST_OVER_MEDIAN = 1.5
TARGET_VS_BOUND = 1.5


def _fingerprint(scenario: Scenario) -> str:
    return hashlib.sha256(repr(scenario).encode()).hexdigest()[:12]


def _path(label: str, scenario: str, side: str, seed: int) -> Path:
    return RESULTS / label / scenario / f"{side}-seed{seed}.json"


def bound(scenario: Scenario, seed: int) -> dict[str, Any]:
    """The clairvoyant schedule's figures for one seed (same shape as a run's)."""
    results = schedule(scenario, scenario.workload(seed), 1.0 / scenario.time_scale)
    served = [r for r in results if r.node is not None]
    rows = [(r.size_class, r.latency_s, r.ttft_s) for r in served]
    return {
        "requests": len(results),
        "by_class": by_class(rows),
        "longest_wait_s": round(max((r.ttft_s for r in served), default=0.0), 3),
        "errors": len(results) - len(served),
        "cold_loads": sum(1 for r in served if r.cold),
        "evictions": None,
        "substitutions": 0,
    }


def no_wait(scenario: Scenario, seed: int) -> dict[str, Any]:
    """The no-wait bound's figures for one seed (``bench.no_wait``: every request alone, hot,
    on its fastest node; what no router can beat)."""
    results = alone(scenario, scenario.workload(seed))
    rows = [(r.size_class, r.latency_s, r.ttft_s) for r in results]
    return {
        "requests": len(results),
        "by_class": by_class(rows),
        "longest_wait_s": 0.0,
        "errors": 0,
        "cold_loads": 0,
        "evictions": 0,
        "substitutions": 0,
    }


def run(scenario: Scenario, side: str, seed: int, label: str) -> dict[str, Any]:
    """One stored run, reusing a stored baseline run of the same scenario and seed."""
    stored_label = BASELINE_LABEL if side in BASELINES else label
    path = _path(stored_label, scenario.name, side, seed)
    if side in BASELINES and path.exists():
        stored = json.loads(path.read_text())
        if stored.get("fingerprint") == _fingerprint(scenario):
            return dict(stored)
    figures = run_side(side, scenario, scenario.workload(seed))
    figures |= {"fingerprint": _fingerprint(scenario), "seed": seed, "side": side}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return figures


def _stored(label: str, scenario: str, side: str) -> list[dict[str, Any]]:
    folder = RESULTS / label / scenario
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"{side}-seed*.json"))]


def _p95(figures: dict[str, Any], size_class: str = "all") -> float | None:
    value = figures["by_class"].get(size_class, {}).get("latency_s", {}).get("p95")
    return None if value is None else float(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


COLUMNS = (
    "p50",
    "p95",
    "p99",
    "small p95",
    "med p95",
    "large p95",
    "TTFT p95",
    "cold",
    "evict",
    "subst",
    "errors",
    "max wait",
    "worst p95",
)


def _row(name: str, runs: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The median-seed figures of ``runs`` (by overall p95), and the worst seed's p95."""
    ranked = sorted(runs, key=lambda r: _p95(r) or 0.0)
    median = ranked[(len(ranked) - 1) // 2]
    all_ = median["by_class"].get("all", {})
    cells = {
        "p50": all_.get("latency_s", {}).get("p50"),
        "p95": all_.get("latency_s", {}).get("p95"),
        "p99": all_.get("latency_s", {}).get("p99"),
        "small p95": _p95(median, "small"),
        "med p95": _p95(median, "medium"),
        "large p95": _p95(median, "large"),
        "TTFT p95": all_.get("ttft_s", {}).get("p95"),
        "cold": median.get("cold_loads"),
        "evict": median.get("evictions"),
        "subst": median.get("substitutions"),
        "errors": sum(r.get("errors", 0) for r in runs),
        "max wait": max((r.get("longest_wait_s") or 0.0 for r in runs), default=None),
        "worst p95": _p95(ranked[-1]),
    }
    line = f"{name:<22}" + "".join(f"{_cell(cells[c]):>10}" for c in COLUMNS)
    return line, cells


def targets(herd: list[dict[str, Any]], others: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Issue 9's targets for herd's runs of one scenario, judged seed by seed."""
    lc = {r["seed"]: _p95(r) for r in others.get("least-connections", [])}
    bounds = {r["seed"]: _p95(r) for r in others.get(BOUND, [])}
    floors = {r["seed"]: _p95(r) or 0.0 for r in others.get(NO_WAIT, [])}
    floor_vs_lc = {s: floors[s] / p for s, p in lc.items() if p and s in floors}
    reachable = [
        s for s, ratio in sorted(floor_vs_lc.items()) if ratio <= TARGET_VS_LEAST_CONNECTIONS
    ]
    p95s = [p for p in (_p95(r) for r in herd) if p is not None]
    median = statistics.median(p95s) if p95s else None
    vs_lc = [(_p95(r) or 0) / lc[r["seed"]] for r in herd if lc.get(r["seed"])]
    vs_bound = [(_p95(r) or 0) / bounds[r["seed"]] for r in herd if bounds.get(r["seed"])]
    return {
        "zero_errors": all(r.get("errors", 0) == 0 for r in herd),
        "no_unallowed_substitution": all(
            r.get("undisclosed_substitutions", 0) == 0 and r.get("other_category", 0) == 0
            for r in herd
        ),
        "p95_vs_least_connections_max": round(max(vs_lc), 2) if vs_lc else None,
        "p95_vs_least_connections_ok": bool(vs_lc) and max(vs_lc) <= TARGET_VS_LEAST_CONNECTIONS,
        # Seeds where even the no-wait bound is within 0.5x least-connections' p95: elsewhere
        # no router can meet that target.
        "p95_vs_least_connections_reachable_seeds": reachable,
        "no_wait_vs_least_connections_max": (
            round(max(floor_vs_lc.values()), 2) if floor_vs_lc else None
        ),
        "worst_over_median": round(max(p95s) / median, 2) if median else None,
        "worst_over_median_ok": bool(median) and max(p95s) / median <= TARGET_WORST_OVER_MEDIAN,
        "p95_vs_bound_max": round(max(vs_bound), 2) if vs_bound else None,
        "p95_vs_bound_ok": bool(vs_bound) and max(vs_bound) <= TARGET_VS_BOUND,
    }


def report(labels: list[str], scenarios: list[Scenario], seeds: int) -> dict[str, Any]:
    """Print one table per scenario from the stored runs; return the figures and targets."""
    out: dict[str, Any] = {}
    for scenario in scenarios:
        print(f"\n## {scenario.name}: {scenario.summary} (modelled seconds, median seed)")
        print(f"{'':<22}" + "".join(f"{c:>10}" for c in COLUMNS))
        sides: dict[str, list[dict[str, Any]]] = {}
        for label in labels:
            sides[f"herd {label}"] = _stored(label, scenario.name, "herd")
        for baseline in BASELINES:
            sides[baseline] = _stored(BASELINE_LABEL, scenario.name, baseline)
        sides[BOUND] = [
            bound(scenario, seed) | {"seed": seed, "side": BOUND} for seed in range(1, seeds + 1)
        ]
        sides[NO_WAIT] = [
            no_wait(scenario, seed) | {"seed": seed, "side": NO_WAIT}
            for seed in range(1, seeds + 1)
        ]
        table: dict[str, Any] = {}
        for name, runs in sides.items():
            if runs:
                line, cells = _row(name, runs)
                print(line)
                table[name] = {"median_seed": cells, "runs": len(runs)}
        checks = {
            label: targets(sides[f"herd {label}"], sides)
            for label in labels
            if sides[f"herd {label}"]
        }
        for label, check in checks.items():
            print(f"targets (herd {label}): " + ", ".join(f"{k}={v}" for k, v in check.items()))
        out[scenario.name] = {"table": table, "targets": checks}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--label", default="latest", help="where herd's runs are stored")
    parser.add_argument("--sides", default="herd," + ",".join(BASELINES))
    parser.add_argument("--report", help="comma-separated labels: print stored runs only")
    args = parser.parse_args(argv if argv is not None else [])
    scenarios = [SCENARIOS[name] for name in (args.scenario or SCENARIOS)]
    last_seed = args.first_seed + args.seeds - 1
    if args.report is None:
        for scenario in scenarios:
            for seed in range(args.first_seed, last_seed + 1):
                for side in args.sides.split(","):
                    run(scenario, side, seed, args.label)
    labels = (args.report or args.label).split(",")
    figures = report(labels, scenarios, last_seed)
    summary = RESULTS / "summary.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"\nwrote {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
