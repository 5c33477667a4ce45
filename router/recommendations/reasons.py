"""Reasons: the one-paragraph explanation of each recommended model (roles, share of traffic,
memory with KV cache, whole-mix fit, speed, install state).

Owns that wording. It must never change what is chosen.
"""

from __future__ import annotations

from .budget import NodeFacts
from .demand import ROLE_LABEL, ROLE_ORDER, Demand, Role
from .model import UsageSummary
from .selection import Candidate


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def explain(
    c: Candidate,
    roles: list[Role],
    facts: NodeFacts,
    demand: Demand,
    usage: UsageSummary,
    mix_gb: float,
    size_cap: float | None,
    big_node: str | None,
) -> str:
    ordered = sorted(roles, key=lambda r: ROLE_ORDER.index(r.name))
    labels = [ROLE_LABEL[r.name] for r in ordered]
    head = labels[0][0].upper() + labels[0][1:]
    if len(labels) > 1:
        head += ", also covering " + " and ".join(labels[1:])
    if any(r.name == "chat" for r in ordered):
        head += ": the best-quality chat model that fits"
        if size_cap is not None and big_node:
            head += f" within {size_cap:.1f} GB (the biggest models go to {big_node})"
    parts = [head]

    total = sum(demand.raw_counts.values())
    if demand.default_mix:
        parts.append("default mix, as no usage is recorded yet")
    else:
        seen: list[str] = []
        for r in ordered:
            if r.category in seen:
                continue
            seen.append(r.category)
            pct = percent(demand.raw_counts.get(r.category, 0), total)
            parts.append(
                f"{r.category} requests were {pct} of traffic over the last "
                f"{usage.window_days:g} days"
            )
    if c.requests:
        parts.append(f"requested {c.requests} times in that window")

    e = c.entry
    if c.measured:
        memory = f"takes {c.memory_gb:.1f} GB loaded (measured)"
    elif c.kv_gb > 0:
        context = min(facts.context_tokens, e.context_length)
        slots = f" x {facts.parallel} parallel" if facts.parallel > 1 else ""
        memory = (
            f"takes {c.memory_gb:.1f} GB loaded ({c.size_gb:.1f} GB weights + {c.kv_gb:.1f} GB "
            f"KV cache for {context} tokens{slots})"
        )
    else:
        memory = f"takes {c.memory_gb:.1f} GB loaded"
    parts.append(f"{e.name} ({e.params_b:g}B, {e.default_quant}, quality {e.quality}) {memory}")
    parts.append(
        f"the whole mix fits {mix_gb:.1f} GB of {facts.usable_gb:.1f} GB usable "
        f"({facts.memory_gb:.0f} GB total)"
    )
    if c.tps is not None and facts.bandwidth:
        parts.append(f"about {c.tps:.0f} tokens/s at {facts.bandwidth:.0f} GB/s")
    if c.loaded:
        parts.append("already loaded")
    elif c.installed_name is not None:
        parts.append(f"already on disk as {c.installed_name}")
    elif facts.disk_free_gb is not None:
        parts.append(f"download {c.download_gb:.1f} GB ({facts.disk_free_gb:.0f} GB free on disk)")
    else:
        parts.append(f"download {c.download_gb:.1f} GB")
    return "; ".join(parts) + "."
