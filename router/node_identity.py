"""Who may speak for a node id: the per-node key bound at first registration, and the node's
address as the admin approved it.

Trust model: the fleet token (when set) decides who may send heartbeats at all; a node id, once
registered, is bound to a key the router issues with the first accepted heartbeat (the agent
keeps it and sends it as ``X-Herd-Node-Key``). A later heartbeat for that id must carry the key,
or come from the host that registered it (an agent that lost its key gets a new one there). Any
other sender is refused, with or without a fleet token, until the admin resets the id. A change
of a node's backend address is remembered and shown; with ``require_approval`` it is held
pending, and the router keeps using the old address until the admin approves.

Only hashes of keys are kept; the book is saved as JSON (write and rename) so a router restart
keeps every binding. Pure apart from ``load``/``save``: time is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

log = logging.getLogger("herd.identity")

KEY_HEADER = "x-herd-node-key"
Verdict = Literal["accepted", "issued", "refused"]


class AddressError(ValueError):
    """A backend URL herd will not send requests to."""


def checked_backend_url(url: str) -> str:
    """``url`` when it is ``http(s)://host[:port]`` with nothing after the authority but ``/``.

    A path prefix, query, fragment or user info would let a heartbeat point the router's
    requests at an arbitrary resource; any other scheme cannot be an Ollama.
    """
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise AddressError(f"scheme must be http or https, got {parts.scheme!r}")
    if not parts.hostname:
        raise AddressError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise AddressError("the URL must not carry user info")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise AddressError("the URL must be scheme://host:port with no path, query or fragment")
    if port == 0:
        raise AddressError("port 0 is not a port")
    return url


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class Identity:
    node_id: str
    key_sha256: str
    host: str | None
    """The address the binding heartbeat came from."""
    url: str
    """The backend address the router uses (the approved one)."""
    bound_at: float
    previous_url: str | None = None
    address_changed_at: float | None = None
    pending_url: str | None = None
    """A new address waiting for approval (``require_approval`` only)."""

    def view(self) -> dict[str, Any]:
        """What health and the dashboard show: never the key's hash."""
        return {
            "bound_at": self.bound_at,
            "host": self.host,
            "previous_url": self.previous_url,
            "address_changed_at": self.address_changed_at,
            "pending_url": self.pending_url,
        }


_FIELDS = tuple(f.name for f in fields(Identity))


@dataclass(slots=True)
class Admission:
    verdict: Verdict
    url: str
    """The address to route to (the approved one while a change is pending)."""
    key: str | None = None
    """A newly issued key to hand back to the agent."""
    reason: str = ""


class IdentityBook:
    """Every node id's binding; ``admit`` decides each heartbeat."""

    def __init__(self, require_approval: bool = False, path: Path | None = None) -> None:
        self.require_approval = require_approval
        self.path = path
        self._ids: dict[str, Identity] = {}

    def get(self, node_id: str) -> Identity | None:
        return self._ids.get(node_id)

    def admit(
        self, node_id: str, key: str | None, host: str | None, url: str, now: float
    ) -> Admission:
        """Whether this heartbeat may speak for ``node_id``, and at which address to reach it."""
        known = self._ids.get(node_id)
        if known is None:
            issued = key or secrets.token_urlsafe(32)
            self._ids[node_id] = Identity(node_id, _digest(issued), host, url, now)
            self._save()
            return Admission("issued", url, key=None if key else issued)
        if key is not None and hmac.compare_digest(_digest(key), known.key_sha256):
            verdict: Verdict = "accepted"
            issued_key = None
        elif host is not None and host == known.host:
            issued_key = secrets.token_urlsafe(32)
            known.key_sha256 = _digest(issued_key)
            verdict = "issued"
        else:
            return Admission(
                "refused",
                known.url,
                reason=(
                    f"node id {node_id!r} is bound to another agent (registered from "
                    f"{known.host}); send its node key, or have the admin reset the id with "
                    f"POST /dashboard/api/nodes/{node_id}/identity/reset"
                ),
            )
        before = (known.host, known.url, known.pending_url)
        known.host = host
        self._note_address(known, url, now)
        if issued_key is not None or before != (known.host, known.url, known.pending_url):
            self._save()
        return Admission(verdict, known.url, key=issued_key)

    def _note_address(self, known: Identity, url: str, now: float) -> None:
        if url == known.url:
            known.pending_url = None
            return
        if self.require_approval:
            if known.pending_url != url:
                log.warning(
                    "node %s asks to move from %s to %s; waiting for approval",
                    known.node_id,
                    known.url,
                    url,
                    extra={"console": True, "node_id": known.node_id},
                )
            known.pending_url = url
            return
        log.warning(
            "node %s changed its address from %s to %s",
            known.node_id,
            known.url,
            url,
            extra={"console": True, "node_id": known.node_id},
        )
        known.previous_url, known.url, known.address_changed_at = known.url, url, now
        known.pending_url = None

    def approve(self, node_id: str, now: float) -> Identity | None:
        """Take a pending address change; ``None`` when the id is unknown."""
        known = self._ids.get(node_id)
        if known is None:
            return None
        if known.pending_url is not None:
            known.previous_url, known.url = known.url, known.pending_url
            known.address_changed_at, known.pending_url = now, None
            self._save()
        return known

    def reset(self, node_id: str) -> bool:
        """Forget the binding so the next heartbeat for ``node_id`` binds afresh."""
        if self._ids.pop(node_id, None) is None:
            return False
        self._save()
        return True

    # --- persistence ----------------------------------------------------------------------------

    def load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text())
            self._ids = {i["node_id"]: Identity(**i) for i in data["nodes"]}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("could not read node identities from %s: %s", self.path, exc)

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        # Field by field: dataclasses.asdict deep-copies, and registering a 500-node fleet saved
        # the whole book 500 times (1.7 s of CPU, against 0.6 s now).
        data = {"nodes": [{f: getattr(i, f) for f in _FIELDS} for i in self._ids.values()]}
        try:
            tmp.write_text(json.dumps(data, separators=(",", ":")))
            tmp.replace(self.path)
        except OSError as exc:  # a full disk keeps the bindings in memory
            log.error("could not save node identities to %s: %s", self.path, exc)
