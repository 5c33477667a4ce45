"""The one unit of size on the wire, and the one conversion to the GB figures people read.

Every size a node reports (memory, swap, disk, model files) travels in bytes, in a field whose
name ends in ``_bytes`` (Ollama's own ``size`` and ``size_vram`` are bytes too). Figures shown to
people and in the router's public ``/fleet/status`` are decimal gigabytes (10^9 bytes, as Ollama's
library lists model sizes); ``to_gb`` is the one place they are computed from bytes.
"""

from __future__ import annotations

GB = 1_000_000_000
"""Bytes per gigabyte (decimal, as Ollama's library and disk vendors count)."""
GIB = 1024**3
"""Bytes per gibibyte, for figures given in binary units (a "16 GB" machine has 16 GiB)."""


def to_gb(n_bytes: float, digits: int = 3) -> float:
    """Bytes as decimal gigabytes, rounded to ``digits`` places."""
    return round(n_bytes / GB, digits)


def from_gb(gigabytes: float) -> int:
    """Decimal gigabytes as whole bytes."""
    return round(gigabytes * GB)
