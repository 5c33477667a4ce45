"""What each read command shows, built from the router's JSON: lines of text, no I/O.

Every function takes the API's answer as it came (``/fleet/status``, ``/dashboard/api/health``,
``/dashboard/api/traces``, ``/dashboard/api/pulls``) and ``now`` in epoch seconds, and tolerates
missing fields: a router of another version must give a thinner table, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from herd_cli.render import (
    GB,
    WIDTH,
    ago,
    clip,
    human_bytes,
    human_duration,
    parse_time,
    table,
    until,
)

Json = dict[str, Any]
SEVERITY_ORDER = {"critical": 0, "error": 0, "warning": 1, "info": 2, "ok": 3, "pass": 3}
SEVERITY_MARK = {"critical": "!!", "error": "!!", "warning": "! ", "info": "i ", "ok": "ok"}


def _nodes(status: Json) -> list[Json]:
    return [n for n in status.get("nodes") or [] if isinstance(n, dict)]


def _models(node: Json, key: str) -> list[Json]:
    ollama = node.get("ollama") or {}
    return [m for m in ollama.get(key) or [] if isinstance(m, dict) and m.get("name")]


def model_bytes(model: Json) -> float | None:
    for key in ("size", "size_bytes"):
        if isinstance(model.get(key), int | float) and model[key] > 0:
            return float(model[key])
    if isinstance(model.get("size_gb"), int | float) and model["size_gb"] > 0:
        return float(model["size_gb"]) * GB
    return None


def _queue_totals(status: Json) -> dict[str, tuple[int, int]]:
    """in-flight and pending per node id, summed over its ``node:model`` queues."""
    totals: dict[str, tuple[int, int]] = {}
    for key, queue in (status.get("queues") or {}).items():
        if not isinstance(queue, dict):
            continue
        node = str(queue.get("node_id") or key.split(":", 1)[0])
        running, waiting = totals.get(node, (0, 0))
        totals[node] = (
            running + int(queue.get("in_flight") or 0),
            waiting + int(queue.get("pending") or 0),
        )
    return totals


def _memory(node: Json) -> str:
    memory = node.get("memory") or {}
    used, total = memory.get("used_gb"), memory.get("total_gb")
    if not isinstance(total, int | float) or not total:
        return "-"
    used = used if isinstance(used, int | float) else 0.0
    return f"{used:.1f}/{total:.0f} GB"


def _cpu(node: Json) -> str:
    pct = (node.get("cpu") or {}).get("utilization_pct")
    return f"{pct:.0f}%" if isinstance(pct, int | float) else "-"


def fleet_summary(status: Json) -> str:
    fleet = status.get("fleet") or {}
    return (
        f"{fleet.get('nodes_online', 0)}/{fleet.get('nodes_total', 0)} nodes online, "
        f"{fleet.get('models_loaded', 0)} models loaded of {fleet.get('models_available', 0)}, "
        f"{fleet.get('requests_active', 0)} requests running, "
        f"{fleet.get('requests_queued', 0)} queued"
    )


def status_lines(status: Json, health: Json | None, width: int = WIDTH) -> list[str]:
    """``herd status``: a node table, what each node holds hot, pulls, and the health headline."""
    lines = [clip(f"Fleet: {fleet_summary(status)}", width)]
    nodes = _nodes(status)
    if nodes:
        lines += ["", *_node_table(status, nodes, width), ""]
        for node in nodes:
            loaded = _models(node, "models_loaded")
            names = ", ".join(f"{m['name']} ({human_bytes(model_bytes(m))})" for m in loaded)
            lines.append(clip(f"{node.get('node_id')}: {names or 'no model loaded'}", width))
    else:
        lines += ["", "No nodes have joined yet. Start `herd-node` on each device running Ollama."]
    lines += _running_pulls(status, width)
    if health:
        lines += ["", *health_headline(health, width, worst=3)]
    return lines


def _node_table(status: Json, nodes: list[Json], width: int) -> list[str]:
    queues = _queue_totals(status)
    rows = []
    for node in nodes:
        node_id = str(node.get("node_id", "?"))
        running, waiting = queues.get(node_id, (int(node.get("requests_active") or 0), 0))
        rows.append(
            [
                node_id,
                str(node.get("status", "?")) + (" (draining)" if node.get("draining") else ""),
                _memory(node),
                str((node.get("memory") or {}).get("pressure", "-")),
                _cpu(node),
                str((node.get("hardware") or {}).get("thermal_state", "-")),
                f"{running}/{waiting}",
            ]
        )
    headers = ["NODE", "STATUS", "MEMORY", "PRESSURE", "CPU", "THERMAL", "RUN/WAIT"]
    return table(headers, rows, width)


def _running_pulls(status: Json, width: int) -> list[str]:
    jobs = [j for j in status.get("pulls") or [] if isinstance(j, dict)]
    running = [j for j in jobs if j.get("state") == "running"]
    lines = ["", "Pulls running:"] if running else []
    for job in running:
        percent = job.get("percent")
        done = f"{percent:.0f}%" if isinstance(percent, int | float) else "?"
        text = f"  {job.get('model')} onto {job.get('node_id')}: {done} (job {job.get('id')})"
        lines.append(clip(text, width))
    return lines


def _checks(health: Json) -> list[Json]:
    checks = [c for c in health.get("checks") or [] if isinstance(c, dict)]
    return sorted(checks, key=lambda c: SEVERITY_ORDER.get(str(c.get("severity")), 2))


def health_headline(health: Json, width: int, worst: int) -> list[str]:
    score, state = health.get("score"), health.get("status", "?")
    lines = [f"Health: {score}/100 ({state})"]
    findings = [c for c in _checks(health) if c.get("severity") not in ("ok", "pass")]
    for check in findings[:worst]:
        mark = SEVERITY_MARK.get(str(check.get("severity")), "  ")
        node = f" [{check['node_id']}]" if check.get("node_id") else ""
        lines.append(clip(f"  {mark} {check.get('title', check.get('check_id', ''))}{node}", width))
    if len(findings) > worst:
        lines.append(f"  ... and {len(findings) - worst} more: `herd health`")
    return lines


def health_lines(health: Json, width: int = WIDTH) -> list[str]:
    """``herd health``: the score, the vitals and every finding with its fix."""
    lines = [f"Health: {health.get('score')}/100 ({health.get('status', '?')})"]
    vitals = health.get("vitals") or {}
    if vitals:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in vitals.items())
        lines += _wrap(shown, width, first="Vitals:")
    checks = _checks(health)
    if not checks:
        lines.append("No findings: everything checked is fine.")
    for check in checks:
        mark = SEVERITY_MARK.get(str(check.get("severity")), "  ")
        node = f" [{check['node_id']}]" if check.get("node_id") else ""
        lines.append("")
        lines.append(
            clip(f"{mark} {check.get('severity', '')}: {check.get('title', '')}{node}", width)
        )
        for key in ("description", "fix"):
            if check.get(key):
                first = "   fix:" if key == "fix" else "   "
                lines += _wrap(str(check[key]), width, indent="   ", first=first)
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _wrap(text: str, width: int, indent: str = "  ", first: str = "") -> list[str]:
    """Words of ``text`` in lines of at most ``width``; the first starts with ``first``."""
    lines: list[str] = []
    line = first
    for word in text.split():
        if line.strip() and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line} {word}" if line.strip() else f"{line}{word}"
    if line.strip():
        lines.append(line)
    return lines


def ps_rows(status: Json, now: float) -> tuple[list[str], list[list[str]]]:
    """``herd ps``: like ``ollama ps``, one row per model per node holding it."""
    rows = []
    for node in _nodes(status):
        for model in _models(node, "models_loaded"):
            context = model.get("context_length")
            rows.append(
                [
                    str(model["name"]),
                    str(node.get("node_id")),
                    str(model.get("digest") or "")[:12],
                    human_bytes(model_bytes(model)),
                    str(context) if context else "-",
                    until(parse_time(model.get("expires_at")), now),
                ]
            )
    return ["NAME", "NODE", "ID", "SIZE", "CONTEXT", "UNTIL"], sorted(rows)


def list_rows(status: Json, now: float) -> tuple[list[str], list[list[str]]]:
    """``herd list``: like ``ollama list``, one row per model per node that has it on disk."""
    rows = []
    for node in _nodes(status):
        for model in _models(node, "models_available"):
            rows.append(
                [
                    str(model["name"]),
                    str(node.get("node_id")),
                    str(model.get("digest") or "")[:12],
                    human_bytes(model_bytes(model)),
                    ago(parse_time(model.get("modified_at")), now),
                ]
            )
    return ["NAME", "NODE", "ID", "SIZE", "MODIFIED"], sorted(rows)


def find_model(status: Json, model: str, node_id: str) -> Json | None:
    for node in _nodes(status):
        if node.get("node_id") == node_id:
            for entry in _models(node, "models_available"):
                if entry["name"] == model:
                    return entry
    return None


def node_ids(status: Json) -> list[str]:
    return [str(n.get("node_id")) for n in _nodes(status)]


def traces_rows(traces: Iterable[Json], now: float) -> tuple[list[str], list[list[str]]]:
    """``herd traces``: the newest requests first, with where they went and how they ended."""
    rows = []
    for trace in traces:
        latency = trace.get("latency_ms")
        tokens = trace.get("completion_tokens")
        rows.append(
            [
                ago(parse_time(trace.get("timestamp")), now, short=True),
                str(trace.get("model") or "-"),
                str(trace.get("node_id") or "-"),
                str(trace.get("status") or "-"),
                human_duration(latency / 1000) if isinstance(latency, int | float) else "-",
                str(tokens) if tokens is not None else "-",
                str(trace.get("request_id") or "")[:16],
            ]
        )
    return ["WHEN", "MODEL", "NODE", "STATUS", "LATENCY", "TOKENS", "REQUEST"], rows


def top_rows(status: Json) -> tuple[list[str], list[list[str]]]:
    """``herd top``: live requests per ``node:model`` queue, busiest first."""
    rows = []
    for key, queue in (status.get("queues") or {}).items():
        if not isinstance(queue, dict):
            continue
        node, _, model = key.partition(":")
        rows.append(
            (
                int(queue.get("in_flight") or 0) + int(queue.get("pending") or 0),
                [
                    node,
                    model,
                    str(queue.get("in_flight", 0)),
                    str(queue.get("pending", 0)),
                    str(queue.get("concurrency", "-")),
                    str(queue.get("done", 0)),
                    str(queue.get("failed", 0)),
                ],
            )
        )
    rows.sort(key=lambda r: (-r[0], r[1]))
    headers = ["NODE", "MODEL", "RUNNING", "WAITING", "SLOTS", "DONE", "FAILED"]
    return headers, [r for _, r in rows]


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2)


def pull_rows(jobs: Iterable[Json], now: float) -> tuple[list[str], list[list[str]]]:
    """``herd pulls``: every pull job the router knows, newest first."""
    rows = []
    for job in jobs:
        percent = job.get("percent")
        rows.append(
            [
                str(job.get("id") or "-"),
                str(job.get("model") or "-"),
                str(job.get("node_id") or "-"),
                str(job.get("state") or "-"),
                f"{percent:.0f}%" if isinstance(percent, int | float) else "-",
                human_bytes(job.get("total_bytes")),
                ago(parse_time(job.get("started_at")), now, short=True),
            ]
        )
    return ["JOB", "MODEL", "NODE", "STATE", "DONE", "SIZE", "STARTED"], rows


def pull_job_lines(job: Json) -> list[str]:
    """``herd pulls ID``: one job with its figures."""
    lines = [f"Pull {job.get('model')} onto {job.get('node_id')}: {job.get('state')}"]
    if job.get("status"):
        lines.append(f"  step      {job['status']}")
    percent = job.get("percent")
    if isinstance(percent, int | float):
        done = f"{human_bytes(job.get('completed_bytes'))} of {human_bytes(job.get('total_bytes'))}"
        lines.append(f"  progress  {percent:.0f}% ({done})")
    if job.get("state") == "running" and job.get("rate_bytes_per_s"):
        rate = human_bytes(job["rate_bytes_per_s"])
        lines.append(f"  rate      {rate}/s, {human_duration(job.get('eta_s'))} left")
    if job.get("error"):
        lines.append(f"  error     {job['error']}")
    return lines
