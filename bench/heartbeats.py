"""Synthetic heartbeats: a valid one with sensible defaults and a few models, sizes in bytes.

Used by the benchmarks that feed a router heartbeats of their own and by the tests
(``tests/factories.py``).
"""

from __future__ import annotations

from typing import Any

from herd_contract.heartbeat import Heartbeat

GB = 1_000_000_000


def gb_bytes(value: float) -> int:
    """Decimal gigabytes as bytes, the wire's unit."""
    return int(value * GB)


def heartbeat(
    node_id: str = "node-a",
    *,
    loaded: list[tuple[str, float]] | None = None,
    available: list[tuple[str, float]] | None = None,
    memory_gb: float = 32.0,
    available_gb: float = 20.0,
    url: str = "http://127.0.0.1:11434",
    status: str = "online",
    cpu_pct: float = 10.0,
    num_parallel: int | None = 2,
    agent_version: str = "0.1.0",
    **extra: Any,
) -> Heartbeat:
    """A valid heartbeat; models are ``(name, size in GB)``."""
    loaded = loaded or []
    available = available if available is not None else list(loaded)
    data: dict[str, Any] = {
        "node_id": node_id,
        "agent_version": agent_version,
        "status": status,
        "hardware": {"hostname": node_id, "memory_bytes": gb_bytes(memory_gb)},
        "cpu": {"cores": 8, "utilization_pct": cpu_pct},
        "memory": {
            "total_bytes": gb_bytes(memory_gb),
            "used_bytes": gb_bytes(memory_gb - available_gb),
            "available_bytes": gb_bytes(available_gb),
            "pressure": "normal",
        },
        "disk": {
            "path": "/",
            "total_bytes": gb_bytes(500),
            "used_bytes": gb_bytes(100),
            "free_bytes": gb_bytes(400),
        },
        "ollama": {
            "url": url,
            "version": "0.12.3",
            "num_parallel": num_parallel,
            "models_loaded": [
                {
                    "name": n,
                    "model": n,
                    "size": int(s * GB),
                    "size_vram": int(s * GB),
                    "context_length": 4096,
                }
                for n, s in loaded
            ],
            "models_available": [
                {"name": n, "model": n, "size": int(s * GB)} for n, s in available
            ],
        },
    }
    data.update(extra)
    return Heartbeat.model_validate(data)
