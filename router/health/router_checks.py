"""Checks of the router process itself: traces it could not store, log lines it could not write,
and node addresses that changed or wait for approval.

Owns those checks' logic and wording. It must never read a clock, the network, the database or the
environment; everything comes in ``HealthInputs``.
"""

from __future__ import annotations

from .findings import label, sorted_nodes
from .model import Findings, HealthCheck, HealthInputs
from .registry import health_check

ADDRESS_CHANGE_RECENT_S = 86_400.0
"""A node's change of address is reported for a day after it happened."""


@health_check
def check_traces_dropped(inputs: HealthInputs) -> Findings:
    """Every trace reached the store."""
    store = inputs.store
    if store.traces_dropped <= 0:
        return []
    return [
        HealthCheck(
            check_id="traces_dropped",
            severity="critical",
            title=f"{store.traces_dropped} traces could not be stored",
            description=(
                f"The trace store dropped {store.traces_dropped} traces since the router started "
                f"(last error: {store.last_error or 'buffer full'}). Routing goes on, but usage, "
                "latency learning and the dashboard miss those requests."
            ),
            fix=(
                "Free space on the data directory's disk (or make it writable again); the "
                "writer resumes on its own with the next batch."
            ),
            data={"dropped": store.traces_dropped, "last_error": store.last_error},
        )
    ]


@health_check
def check_log_write_errors(inputs: HealthInputs) -> Findings:
    """Every log line reached herd.jsonl."""
    errors = inputs.store.log_write_errors
    if errors <= 0:
        return []
    return [
        HealthCheck(
            check_id="log_write_errors",
            severity="warning",
            title=f"{errors} log lines could not be written",
            description=(
                f"Writing herd.jsonl failed {errors} times since the router started; the first "
                "failure was reported on the console and the rest only counted."
            ),
            fix="Free space on the data directory's disk or make logs/ writable.",
            data={"errors": errors},
        )
    ]


@health_check
def check_node_address_pending(inputs: HealthInputs) -> Findings:
    """No node waits for approval of a new address."""
    found: Findings = []
    for node in sorted_nodes(inputs.nodes):
        pending = (node.identity or {}).get("pending_url")
        if not pending:
            continue
        found.append(
            HealthCheck(
                check_id="node_address_pending",
                severity="warning",
                title=f"{label(node)} asks to move to {pending}",
                description=(
                    f"Heartbeats for {node.node_id} now name {pending}; the router keeps "
                    f"sending its requests to {node.ollama_url} until the move is approved."
                ),
                fix=f"POST /dashboard/api/nodes/{node.node_id}/address/approve (admin), or "
                "reset the node's identity if this is not your machine.",
                node_id=node.node_id,
                data={"url": node.ollama_url, "pending_url": pending},
            )
        )
    return found


@health_check
def check_node_address_changed(inputs: HealthInputs) -> Findings:
    """No node changed its address in the last day."""
    found: Findings = []
    for node in sorted_nodes(inputs.nodes):
        identity = node.identity or {}
        changed_at = identity.get("address_changed_at")
        if not isinstance(changed_at, int | float):
            continue
        if inputs.now - changed_at >= ADDRESS_CHANGE_RECENT_S:
            continue
        previous = identity.get("previous_url")
        found.append(
            HealthCheck(
                check_id="node_address_changed",
                severity="info",
                title=f"{label(node)} changed its address",
                description=(
                    f"{node.node_id} moved from {previous} to {node.ollama_url} "
                    f"{(inputs.now - changed_at) / 60:.0f} min ago, with its node key."
                ),
                fix="Nothing if you expected it (DHCP, a new port); otherwise reset the "
                "node's identity and check the machine at the new address.",
                node_id=node.node_id,
                data={"previous_url": previous, "url": node.ollama_url},
            )
        )
    return found
