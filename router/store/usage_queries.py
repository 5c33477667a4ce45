"""Usage queries: counters per node, model, tag, day and hour, from the rollups and raw edges.

Owns ``UsageQueries``, the part of ``TraceStore`` behind ``usage``, ``tag_stats``, ``tag_daily``,
``hourly_trends`` and ``node_model_usage``: each picks its groups and window and hands the rows of
``Database.counters`` to the matching ``shapes.shape_*`` function. Runs on the reader
connection only.

Never shapes a response itself (``router.store.shapes`` does) and never writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from router import measures
from router.store import shapes

from .connections import Database
from .counters import TAGS, TRACES
from .rollups import DAY_S


class UsageQueries:
    """Counters over a window, grouped for the dashboard's usage, tag and trend views."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def usage(
        self, since: float, until: float | None = None, tz_offset_s: int = 0
    ) -> dict[str, Any]:
        """Usage per node, model and day in ``[since, until)``: see ``shapes.shape_usage``.

        Days are UTC shifted by ``tz_offset_s`` (whole hours are exact; a rollup hour belongs to
        the day its start falls in)."""
        until = time.time() if until is None else until
        off = int(tz_offset_s)
        rows = await self.db.counters(
            TRACES,
            (
                (
                    "day",
                    f"CAST((timestamp + {off}) / 86400 AS INTEGER)",
                    f"(period_start + {off}) / 86400",
                ),
                ("node_id", "node_id", "nullif(node_id, '')"),
                ("model", "model", "model"),
            ),
            since,
            until,
            daily=off % DAY_S == 0,
        )
        return shapes.shape_usage(rows, since, until, off)

    async def tag_stats(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        """Per tag (app): counters and the models used. See ``shapes.shape_tag_stats``."""
        until = time.time() if until is None else until
        rows = await self.db.counters(
            TAGS, (("tag", "g.tag", "tag"), ("model", "t.model", "model")), since, until
        )
        per_tag: dict[str, dict[str, Any]] = {}
        for row in rows:
            acc = per_tag.setdefault(row["tag"], {"tag": row["tag"]})
            for key in measures.COUNTER_FIELDS:
                acc[key] = acc.get(key, 0) + (row[key] or 0)
        return shapes.shape_tag_stats(per_tag.values(), rows)

    async def tag_daily(
        self,
        since: float,
        until: float | None = None,
        tags: Iterable[str] | None = None,
        tz_offset_s: int = 0,
    ) -> dict[str, Any]:
        """Per tag and day in ``[since, until)``, days filled: ``{"days", "series"}``."""
        until = time.time() if until is None else until
        off = int(tz_offset_s)
        raw_filter: tuple[str, Sequence[Any]] = ("", ())
        rollup_filter: tuple[str, Sequence[Any]] = ("", ())
        if tags is not None:
            wanted = list(tags)
            if not wanted:
                return shapes.shape_tag_daily([], since, until, off)
            marks = ", ".join("?" for _ in wanted)
            raw_filter = (f"AND g.tag IN ({marks})", wanted)
            rollup_filter = (f"AND tag IN ({marks})", wanted)
        rows = await self.db.counters(
            TAGS,
            (
                ("tag", "g.tag", "tag"),
                (
                    "day",
                    f"CAST((g.timestamp + {off}) / 86400 AS INTEGER)",
                    f"(period_start + {off}) / 86400",
                ),
            ),
            since,
            until,
            raw_filter,
            rollup_filter,
            daily=off % DAY_S == 0,
        )
        return shapes.shape_tag_daily(rows, since, until, off)

    async def hourly_trends(self, now: float, hours: int = 24) -> dict[str, Any]:
        """The last ``hours`` hours (1..720), every hour present. See ``shapes.shape_hourly``."""
        hours = max(1, min(int(hours), 720))
        start = measures.hour_starts(now, hours)[0]
        rows = await self.db.counters(
            TRACES,
            (
                ("hour", "CAST(timestamp / 3600 AS INTEGER) * 3600", "period_start"),
                ("model", "model", "model"),
            ),
            start,
            start + hours * 3600,
            daily=False,
        )
        latencies = await self.db.fetch_rows(
            "SELECT CAST(timestamp / 3600 AS INTEGER) * 3600, latency_ms FROM request_traces "
            "WHERE timestamp >= ? AND timestamp < ? AND status = 'completed' "
            "AND latency_ms IS NOT NULL",
            (start, start + hours * 3600),
        )
        return shapes.shape_hourly(rows, now, hours, ((r[0], r[1]) for r in latencies))

    async def node_model_usage(
        self, since: float, until: float | None = None
    ) -> list[dict[str, Any]]:
        """Per node and model in ``[since, until)``: ``{node_id, model, requests, completed,
        errors, prompt_tokens, completion_tokens, last_used}``, busiest first."""
        until = time.time() if until is None else until
        rows = await self.db.counters(
            TRACES,
            (("node_id", "node_id", "nullif(node_id, '')"), ("model", "model", "model")),
            since,
            until,
        )
        out = [
            {
                "node_id": row["node_id"],
                "model": row["model"],
                "requests": int(row["requests"] or 0),
                "completed": int(row["completed"] or 0),
                "errors": int(row["errors"] or 0),
                "prompt_tokens": int(row["prompt_tokens"] or 0),
                "completion_tokens": int(row["completion_tokens"] or 0),
                "last_used": row["last_used"],
            }
            for row in rows
        ]
        out.sort(key=lambda r: (-r["requests"], r["node_id"] or "", r["model"]))
        return out
