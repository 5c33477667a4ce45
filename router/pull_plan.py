"""Where a pull goes and whether the model fits there: the plan worked out before any download.

Owns the figures of a pull (the memory the model needs to run, the bytes to download, the node's
memory and its free disk before and after), the choice of node when none is named (among the
online nodes where the model fits, the one with the most memory to spare, so the big machines take
the big models) and the refusal, with those figures, of a node where it cannot fit.

Memory is the pessimistic estimate of ``router.model_size``; the download size is what a node that
already holds the model reports, else the catalogue's figure. A named node is refused on memory
only when something is known about the model's size (the unknown-size fallback is a guess, not a
figure), and on disk only when the download size is known.

Pure: the nodes' capacities are passed in; no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from router import catalogue, model_size

GB = 1e9
FILE_SHARE_OF_MEMORY = 0.8
"""When the download size is unknown, the file is assumed to be this share of the memory need."""


@dataclass(frozen=True, slots=True)
class NodeRoom:
    """One node's room for a pull, as its last heartbeat reports it."""

    node_id: str
    online: bool
    memory_bytes: int
    disk_free_bytes: int | None
    holds: bool
    """The model is already on this node's disk (a pull only checks for a newer version)."""


@dataclass(frozen=True, slots=True)
class Need:
    model: str
    memory_bytes: int
    memory_known: bool
    """False when nothing about the model's size is known (``memory_bytes`` is the fallback)."""
    download_bytes: int | None

    @property
    def disk_bytes(self) -> int:
        """Disk the download takes: its size when known, else a share of the memory need."""
        if self.download_bytes is not None:
            return self.download_bytes
        return int(self.memory_bytes * FILE_SHARE_OF_MEMORY)


class PullPlan(BaseModel):
    """A pull before it starts (``POST /dashboard/api/pulls/plan``); every size in bytes."""

    model: str
    node_id: str | None = None
    chosen_by: Literal["caller", "best_fit"] = "caller"
    memory_needed_bytes: int | None = Field(
        default=None, description="Estimated memory to run the model; null when unknown"
    )
    memory_total_bytes: int | None = None
    download_bytes: int | None = Field(default=None, description="Null when unknown")
    disk_free_bytes: int | None = None
    disk_free_after_bytes: int | None = None
    already_there: bool = False
    fits: bool = False
    reason: str | None = Field(default=None, description="Why it cannot go ahead, with figures")


def need_of(model: str, reported_bytes: int | None = None) -> Need:
    """What ``model`` needs: memory (pessimistic) and download bytes (reported, else catalogue)."""
    entry = catalogue.lookup(model)
    download = reported_bytes
    if download is None and entry is not None:
        download = int(entry.size_gb * GB)
    memory = model_size.estimate(
        model,
        parameter_size=f"{entry.params_b}B" if entry is not None else "",
        quantization_level=entry.default_quant if entry is not None else "",
        file_bytes=download or 0,
    )
    known = (
        download is not None
        or entry is not None
        or model_size.parameters_from_name(model) is not None
    )
    return Need(model, memory, known, download)


def _gb(value: int) -> str:
    return f"{value / GB:.1f} GB"


def problem(room: NodeRoom, need: Need) -> str | None:
    """Why ``need`` cannot go onto ``room``, with the figures; ``None`` when it fits."""
    if not room.online:
        return f"node {room.node_id!r} is offline; it cannot pull until it is back"
    if need.memory_known and room.memory_bytes and room.memory_bytes < need.memory_bytes:
        return (
            f"{need.model} needs about {_gb(need.memory_bytes)} of memory to run; node "
            f"{room.node_id} has {_gb(room.memory_bytes)} in all"
        )
    if (
        not room.holds
        and need.download_bytes is not None
        and room.disk_free_bytes is not None
        and room.disk_free_bytes < need.download_bytes
    ):
        return (
            f"{need.model} is about {_gb(need.download_bytes)} to download; node "
            f"{room.node_id} has {_gb(room.disk_free_bytes)} free on disk"
        )
    return None


def best_room(rooms: Iterable[NodeRoom], need: Need) -> NodeRoom | None:
    """The online node where ``need`` fits with the most memory to spare (disk to hold it too)."""
    best: tuple[int, NodeRoom] | None = None
    for room in rooms:
        if not room.online or room.memory_bytes < need.memory_bytes:
            continue
        short_of_disk = room.disk_free_bytes is not None and room.disk_free_bytes < need.disk_bytes
        if short_of_disk and not room.holds:
            continue
        spare = room.memory_bytes - need.memory_bytes
        if best is None or spare > best[0]:
            best = (spare, room)
    return best[1] if best else None


def plan(need: Need, rooms: list[NodeRoom], node_id: str | None) -> PullPlan:
    """The plan of pulling ``need`` onto ``node_id`` (which must be among ``rooms``), or onto the
    best-fitting node when ``node_id`` is ``None``."""
    base = PullPlan(
        model=need.model,
        memory_needed_bytes=need.memory_bytes if need.memory_known else None,
        download_bytes=need.download_bytes,
    )
    if node_id is None:
        room = best_room(rooms, need)
        if room is None:
            online = any(r.online for r in rooms)
            why = (
                f"no online node has the memory and disk for {need.model} (about "
                f"{_gb(need.memory_bytes)} of memory and {_gb(need.disk_bytes)} of disk needed)"
                if online
                else "no node is online"
            )
            return base.model_copy(update={"reason": why})
        chosen: Literal["caller", "best_fit"] = "best_fit"
    else:
        room = next(r for r in rooms if r.node_id == node_id)
        chosen = "caller"
    after = None
    if room.disk_free_bytes is not None and need.download_bytes is not None:
        after = room.disk_free_bytes - (0 if room.holds else need.download_bytes)
    reason = problem(room, need)
    return base.model_copy(
        update={
            "node_id": room.node_id,
            "chosen_by": chosen,
            "memory_total_bytes": room.memory_bytes or None,
            "disk_free_bytes": room.disk_free_bytes,
            "disk_free_after_bytes": after,
            "already_there": room.holds,
            "fits": reason is None,
            "reason": reason,
        }
    )
