"""The node registry: the latest heartbeat of every node and its lifecycle.

It is the only writer of node state. A node is ``online`` while heartbeats arrive, ``degraded``
after ``degraded_after_s`` of silence, ``offline`` after ``offline_after_s``, and offline at once
when it says it is draining. Time is injected (``clock``), so the lifecycle is tested without
waiting. No network, no database: the HTTP handler hands heartbeats in, readers take snapshots.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from herd_contract.heartbeat import AvailableModel, Heartbeat, NodeStatus
from herd_contract.model_names import normalize
from router.weekly import WeeklyPatterns

CPU_HISTORY_LENGTH = 60
"""Heartbeats of CPU utilisation kept per node (5 minutes at the default interval)."""
UNLOADED_MEMORY_S = 1800.0
"""How long a model unloaded from a node is remembered (it is still in the page cache: warm)."""
CHANGE_HOLD_S = 15.0
"""How long the router's own read of a node's models after a pull or delete outranks heartbeats
that disagree: a heartbeat gathered just before the change can arrive just after it."""


@dataclass(slots=True)
class NodeRecord:
    node_id: str
    heartbeat: Heartbeat
    ollama_url: str
    first_seen: float
    last_seen: float
    source_ip: str | None = None
    draining: bool = False
    generation: int = 0
    """Bumped on every heartbeat; caches derived from the heartbeat compare it."""
    cpu_history: deque[float] = field(default_factory=lambda: deque(maxlen=CPU_HISTORY_LENGTH))
    recently_unloaded: dict[str, float] = field(default_factory=dict)
    """Normalised model name -> when it left memory."""
    displaced: dict[str, float] = field(default_factory=dict)
    """Models that left memory as another model arrived (an eviction) -> when; forgotten when
    they load there again (``router.scoring.restores`` brings them back)."""
    identity: dict[str, Any] | None = None
    """The node's binding as ``router.node_identity`` shows it (address changes, pending)."""
    held: dict[str, tuple[AvailableModel | None, float]] = field(default_factory=dict)
    """Models the router itself just pulled (entry) or deleted (None) on the node, with the time
    until which that outranks a heartbeat saying otherwise (``CHANGE_HOLD_S``)."""

    @property
    def loaded_models(self) -> set[str]:
        """The language models in the node's Ollama's memory (an image model its image backend
        serves shows in ``/api/ps`` too, but is not one)."""
        loaded = {normalize(m.name) for m in self.heartbeat.ollama.models_loaded}
        return loaded - self.media_models if loaded else loaded

    @property
    def ollama_image_models(self) -> set[str]:
        """The image models of the node's own Ollama (its image backend with the adapter
        ``ollama``): Ollama answers ``/api/show`` and ``/api/generate`` for them."""
        return {
            normalize(m)
            for b in self.heartbeat.backends
            if b.kind == "image" and b.adapter == "ollama"
            for m in b.models
        }

    @property
    def media_models(self) -> set[str]:
        """The models the node's image and speech backends serve."""
        return {
            normalize(m)
            for b in self.heartbeat.backends
            if b.kind in ("image", "stt")
            for m in b.models
        }

    @property
    def available_models(self) -> set[str]:
        return {normalize(m.name) for m in self.heartbeat.ollama.models_available}


def reachable_ollama_url(reported: str, source_ip: str | None) -> str:
    """The URL the router should use for a node's Ollama.

    An agent reports its Ollama as it sees it (often ``http://localhost:11434``). When the heartbeat
    came from another machine, a loopback host would point at the router itself, so the host is
    replaced by the address the heartbeat came from.
    """
    parts = urlsplit(reported if "://" in reported else f"http://{reported}")
    host = parts.hostname or "localhost"
    if source_ip is None or not _is_loopback(host) or _is_loopback(source_ip):
        return urlunsplit(parts._replace(path=parts.path.rstrip("/")))
    netloc_host = f"[{source_ip}]" if ":" in source_ip else source_ip
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    return urlunsplit(parts._replace(netloc=netloc, path=parts.path.rstrip("/")))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _with_held_models(record: NodeRecord, heartbeat: Heartbeat, now: float) -> Heartbeat:
    """``heartbeat`` with the router's recent pulls and deletes on the node kept as the router saw
    them; a hold ends when a heartbeat agrees or ``CHANGE_HOLD_S`` has passed."""
    if not record.held:
        return heartbeat
    reported = {normalize(m.name): m for m in heartbeat.ollama.models_available}
    changed = False
    for name, (entry, until) in list(record.held.items()):
        if until <= now or (entry is None) == (name not in reported):
            del record.held[name]  # over, or the node says the same now
        elif entry is None:
            del reported[name]
            changed = True
        else:
            reported[name] = entry
            changed = True
    if not changed:
        return heartbeat
    ollama = heartbeat.ollama.model_copy(update={"models_available": list(reported.values())})
    return heartbeat.model_copy(update={"ollama": ollama})


class Registry:
    """Every node herd has heard from, and what state it is in at a given moment."""

    def __init__(
        self,
        clock: Callable[[], float],
        degraded_after_s: float = 15.0,
        offline_after_s: float = 30.0,
        forget_after_s: float = 86_400.0,
    ) -> None:
        self._clock = clock
        self.degraded_after_s = degraded_after_s
        self.offline_after_s = offline_after_s
        self.forget_after_s = forget_after_s
        self._nodes: dict[str, NodeRecord] = {}
        self.weekly = WeeklyPatterns()
        """Each node's learned CPU pattern by hour of week, fed by every heartbeat."""
        self._listeners: list[Callable[[str], None]] = []
        self.version = 0
        """Bumped on every change a reader may care about (new node, lifecycle, models)."""

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(node_id)`` after every change to a node."""
        self._listeners.append(listener)

    def apply(
        self,
        heartbeat: Heartbeat,
        source_ip: str | None = None,
        url: str | None = None,
        identity: dict[str, Any] | None = None,
    ) -> NodeStatus:
        """Take a heartbeat in; return the node's resulting status.

        ``url`` is the address to route to when the caller decided it (an approved address while
        a change waits); ``identity`` is what the identity book shows about the node.
        """
        now = self._clock()
        url = url or reachable_ollama_url(heartbeat.ollama.url, source_ip)
        record = self._nodes.get(heartbeat.node_id)
        if record is None:
            record = NodeRecord(
                node_id=heartbeat.node_id,
                heartbeat=heartbeat,
                ollama_url=url,
                first_seen=now,
                last_seen=now,
                source_ip=source_ip,
            )
            self._nodes[heartbeat.node_id] = record
        else:
            self._note_unloaded(record, heartbeat, now)
            heartbeat = _with_held_models(record, heartbeat, now)
            record.heartbeat = heartbeat
            record.ollama_url = url
            record.last_seen = now
            record.source_ip = source_ip
        record.identity = identity
        record.draining = heartbeat.status == "draining"
        record.generation += 1
        record.cpu_history.append(heartbeat.cpu.utilization_pct)
        self.weekly.observe(record.node_id, now, heartbeat.cpu.utilization_pct)
        self._changed(record.node_id)
        return self.status_of(record, now)

    def _note_unloaded(self, record: NodeRecord, heartbeat: Heartbeat, now: float) -> None:
        before = record.loaded_models
        after = {normalize(m.name) for m in heartbeat.ollama.models_loaded}
        arrived = bool(after - before)
        for name in before - after:
            record.recently_unloaded[name] = now
            if arrived:
                record.displaced[name] = now
        for name in after:
            record.recently_unloaded.pop(name, None)
            record.displaced.pop(name, None)
        horizon = now - UNLOADED_MEMORY_S
        for memory in (record.recently_unloaded, record.displaced):
            for name, when in list(memory.items()):
                if when < horizon:
                    del memory[name]

    def replace_available(self, node_id: str, models: list[AvailableModel]) -> None:
        """Take a fresh ``/api/tags`` of a node the router just changed (pull, delete).

        The next heartbeat would say the same a few seconds later; routing needs it now. Image
        models stay out, as the agent leaves them out (its image backend serves them): the ones
        that backend lists, and any whose capabilities say ``image``.
        """
        record = self._nodes.get(node_id)
        if record is None:
            return
        media = record.media_models
        models = [
            m
            for m in models
            if normalize(m.name) not in media and "image" not in (m.capabilities or ())
        ]
        until = self._clock() + CHANGE_HOLD_S
        before = {normalize(m.name) for m in record.heartbeat.ollama.models_available}
        after = {normalize(m.name): m for m in models}
        for name in before - after.keys():
            record.held[name] = (None, until)
        for name in after.keys() - before:
            record.held[name] = (after[name], until)
        ollama = record.heartbeat.ollama.model_copy(update={"models_available": models})
        record.heartbeat = record.heartbeat.model_copy(update={"ollama": ollama})
        record.generation += 1
        self._changed(node_id)

    def status_of(self, record: NodeRecord, now: float | None = None) -> NodeStatus:
        if record.draining:
            return "offline"
        silence = (self._clock() if now is None else now) - record.last_seen
        if silence >= self.offline_after_s:
            return "offline"
        if silence >= self.degraded_after_s:
            return "degraded"
        return "online"

    def get(self, node_id: str) -> NodeRecord | None:
        return self._nodes.get(node_id)

    def ollama_version(self, node_id: str) -> str:
        """The Ollama version a node last reported ("" when unknown)."""
        record = self._nodes.get(node_id)
        return record.heartbeat.ollama.version if record is not None else ""

    def records(self) -> list[NodeRecord]:
        """Every known node, sorted by id."""
        return [self._nodes[k] for k in sorted(self._nodes)]

    def with_status(self, now: float | None = None) -> list[tuple[NodeRecord, NodeStatus]]:
        now = self._clock() if now is None else now
        return [(r, self.status_of(r, now)) for r in self.records()]

    def routable(self, now: float | None = None) -> list[tuple[NodeRecord, NodeStatus]]:
        """Nodes that may take work: online and degraded ones."""
        return [(r, s) for r, s in self.with_status(now) if s != "offline"]

    def forget_stale(self, now: float | None = None) -> list[str]:
        """Drop nodes silent for longer than ``forget_after_s``; return their ids."""
        now = self._clock() if now is None else now
        stale = [k for k, r in self._nodes.items() if now - r.last_seen >= self.forget_after_s]
        for node_id in stale:
            del self._nodes[node_id]
            self._changed(node_id)
        return stale

    def _changed(self, node_id: str) -> None:
        self.version += 1
        for listener in self._listeners:
            listener(node_id)
