"""The node key: the secret the router issues with this node's first accepted heartbeat.

The router binds the node id to it; every later heartbeat carries it (``X-Herd-Node-Key``) so no
other sender can take the id over. It is kept in a file readable by its owner only, so a restart
of the agent keeps speaking for the same id. Without a file (the simulator's default) it lives
in memory for the life of the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger("herd.node.key")

KEY_HEADER = "X-Herd-Node-Key"


def default_key_file(node_id: str) -> Path:
    return Path("~/.herd-node").expanduser() / f"{node_id}.key"


class NodeKey:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.value: str | None = None
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.value = path.read_text().strip() or None

    def headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.value} if self.value else {}

    def adopt(self, issued: str) -> None:
        """Keep a key the router just issued (and save it when there is a file)."""
        self.value = issued
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(issued)
            tmp.replace(self.path)
        except OSError as exc:
            log.error(
                "could not save the node key; a restart will need the same host or an admin reset",
                extra={"path": str(self.path), "error": repr(exc)},
            )
        else:
            log.info("saved the node key the router issued", extra={"path": str(self.path)})
