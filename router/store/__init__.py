"""The trace store: every routing decision in SQLite (``<data dir>/latency.db``), and its queries.

Owns the ``request_traces`` table (one row per attempt, the shape of ``TraceRecord``), the
``trace_tags`` lookup, ``benchmark_runs``, the hourly and daily rollups, the latency histogram, the
schema version, retention, and the aggregate queries behind the dashboard and the health checks.

Writes never touch the request path: ``record()`` only appends to a bounded in-memory buffer; a
background task writes batches, each in one transaction (``executemany``), on a connection used by
nothing else. Queries use a second, read-only connection, so a long read can never leave a
statement open on the writer ("cannot commit transaction - SQL statements in progress"). WAL mode
lets both run at once. A failed batch is logged and retried once; if it fails again the rows are
counted as dropped (``stats()``), never lost silently, and the router carries on.

Never blocks the event loop, never raises from ``record()``, never shapes responses: the pure
post-processing lives in ``router.store.shapes`` (counting conventions in ``router.measures``).

Layout: ``trace_store`` (``TraceStore``: settings and life cycle), ``connections`` (the writer and
reader connections, transactions, fetch helpers), ``schema`` (tables and migrations), ``rows``
(a trace as stored, ``RunRow``), ``rollups`` (what a batch adds to the rollups, pure),
``writer`` (the batched background writer), ``retention`` (pruning), ``counters`` (counter SQL
over rollups and raw rows, pure), ``trace_queries``, ``usage_queries``, ``latency_queries``,
``health_queries`` (the reads) and ``benchmarks`` (benchmark runs). This module only re-exports
the public API.
"""

from .connections import StoreClosedError
from .latency_queries import EXACT_PERCENTILE_WINDOW_S
from .retention import MAX_PRUNE_CHUNKS, PRUNE_CHUNK
from .rollups import DAY_S, METRIC_LATENCY, METRIC_TTFT
from .rows import TRACE_COLUMNS, RunRow
from .schema import SCHEMA_VERSION
from .trace_store import TraceStore

__all__ = [
    "DAY_S",
    "EXACT_PERCENTILE_WINDOW_S",
    "MAX_PRUNE_CHUNKS",
    "METRIC_LATENCY",
    "METRIC_TTFT",
    "PRUNE_CHUNK",
    "SCHEMA_VERSION",
    "TRACE_COLUMNS",
    "RunRow",
    "StoreClosedError",
    "TraceStore",
]
