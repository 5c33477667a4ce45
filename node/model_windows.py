"""Each model's trained context window, read from Ollama's ``/api/show`` once per model file.

Owns ``ContextWindows``: for the models on disk it asks ``POST /api/show {"model": name}`` and reads
``model_info["<architecture>.context_length"]``, keeping the answer by digest (a re-pulled model
with a new digest is asked again; a renamed copy of the same file is not). A failed or missing
answer is not remembered, so it is tried again on a later heartbeat. At most ``per_round`` new
lookups happen per heartbeat so a node with many models does not delay its heartbeat: the rest
follow on the next ones. It never raises for an unreachable Ollama.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from herd_contract.heartbeat import AvailableModel

log = logging.getLogger("herd.node.model_windows")

LOOKUPS_PER_ROUND = 8
"""New ``/api/show`` calls per heartbeat at most."""


def context_length_of(show: Any) -> int:
    """The trained context window in an ``/api/show`` answer, 0 when it does not say."""
    info = show.get("model_info") if isinstance(show, Mapping) else None
    if not isinstance(info, Mapping):
        return 0
    arch = info.get("general.architecture")
    candidates = [f"{arch}.context_length"] if isinstance(arch, str) else []
    candidates += [key for key in info if str(key).endswith(".context_length")]
    for key in candidates:
        value = info.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


class ContextWindows:
    """Context windows by digest (or name when Ollama gives no digest), filled lazily."""

    def __init__(self, client: httpx.AsyncClient, per_round: int = LOOKUPS_PER_ROUND) -> None:
        self._client = client
        self._per_round = per_round
        self._known: dict[str, int] = {}

    async def _show(self, name: str) -> int:
        try:
            response = await self._client.post("/api/show", json={"model": name})
            response.raise_for_status()
            return context_length_of(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.debug(
                "could not read the model's window", extra={"model": name, "error": repr(exc)}
            )
            return 0

    async def fill(self, models: list[AvailableModel]) -> list[AvailableModel]:
        """``models`` with ``context_length`` set where known (new copies; the input is kept)."""
        asked = 0
        filled: list[AvailableModel] = []
        for model in models:
            key = model.digest or model.name
            window = self._known.get(key)
            if window is None and asked < self._per_round:
                asked += 1
                window = await self._show(model.name)
                if window:
                    self._known[key] = window
            filled.append(model.model_copy(update={"context_length": window or 0}))
        return filled
