"""The scorer: for one request, every node's expected time to the last token, in seconds.

One estimate per candidate node, the sum of documented terms (``terms``): the wait for a slot, the
load and what it evicts, the run at the measured or prior speed, the reload a new context window
forces, throttling and the warm page cache, availability, role affinity, the conversation's prompt
cache and the node's health. The breakdown keeps all of them, so traces and ``X-Fleet-Score``
explain every decision in seconds.

How the router uses it: it builds one ``NodeSnapshot`` per node whenever a heartbeat arrives
(``snapshot_from_heartbeat``), and per request calls ``rank`` with the snapshots, the request, its
live queue loads, what it has learned about speeds (``Speeds``, from ``router.latency``), recent
demand per model and the session map. ``rank`` is pure: it never reads a clock, does I/O or keeps
state.

Modules: ``snapshot`` (node snapshots), ``speed`` (learned speeds and priors), ``filters`` (the
hard filters and memory fit), ``terms`` (each term), ``ranking`` (the decision).
"""

from router.scoring.filters import (
    ABSENT,
    BLOCKED,
    CRITICAL_PRESSURE,
    DRAINING,
    EXCLUDED,
    INSUFFICIENT,
    OFFLINE,
    TOO_LARGE,
    QueueLoad,
    cold_need,
)
from router.scoring.ranking import (
    SIGNALS,
    WARM_WINDOW_S,
    Breakdown,
    Candidate,
    Decision,
    RouteRequest,
    rank,
)
from router.scoring.snapshot import (
    CPU_HISTORY_LEN,
    UNLOADED_MEMORY_S,
    LoadedInfo,
    NodeSnapshot,
    effective_parallel,
    snapshot_from_heartbeat,
)
from router.scoring.speed import NO_SPEEDS, ModelSpeed, NodeSpeed, Speeds

__all__ = [
    "ABSENT",
    "BLOCKED",
    "CPU_HISTORY_LEN",
    "CRITICAL_PRESSURE",
    "DRAINING",
    "EXCLUDED",
    "INSUFFICIENT",
    "NO_SPEEDS",
    "OFFLINE",
    "SIGNALS",
    "TOO_LARGE",
    "UNLOADED_MEMORY_S",
    "WARM_WINDOW_S",
    "Breakdown",
    "Candidate",
    "Decision",
    "LoadedInfo",
    "ModelSpeed",
    "NodeSnapshot",
    "NodeSpeed",
    "QueueLoad",
    "RouteRequest",
    "Speeds",
    "cold_need",
    "effective_parallel",
    "rank",
    "snapshot_from_heartbeat",
]
