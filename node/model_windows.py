"""Each model's trained context window, capabilities and weights blob, read from Ollama's
``/api/show`` once per model file.

Owns ``ContextWindows``: for the models on disk it asks ``POST /api/show {"model": name}`` and reads
``model_info["<architecture>.context_length"]`` and ``capabilities`` (``completion``,
``embedding``, ``image``...; kept as ``/api/tags`` gave them when it lists them, as Ollama does
since mid-2026) and the weights' blob file from ``modelfile``'s ``FROM <path>/sha256-<hex>`` line
(Ollama unloads idle models in the order of that path when their keep-alives are equal), keeping
the answer by digest (a re-pulled model
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


def capabilities_of(show: Any) -> list[str] | None:
    """The ``capabilities`` of an ``/api/show`` answer, None when it lists none."""
    listed = show.get("capabilities") if isinstance(show, Mapping) else None
    if not isinstance(listed, list):
        return None
    return [str(c)[:64] for c in listed if isinstance(c, str)][:64]


def weights_blob_of(show: Any) -> str:
    """The weights' blob file (``sha256-<hex>``) named by ``FROM`` in an ``/api/show`` answer's
    ``modelfile``; "" when it names none (a model shown by name only)."""
    text = show.get("modelfile") if isinstance(show, Mapping) else None
    if not isinstance(text, str):
        return ""
    for line in text.splitlines():
        command, _, argument = line.strip().partition(" ")
        if command.upper() == "FROM":
            name = argument.strip().rsplit("/", 1)[-1]
            return name if name.startswith("sha256-") else ""
    return ""


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
    """Windows and capabilities by digest (or name when Ollama gives no digest), filled lazily."""

    def __init__(self, client: httpx.AsyncClient, per_round: int = LOOKUPS_PER_ROUND) -> None:
        self._client = client
        self._per_round = per_round
        self._known: dict[str, tuple[int, list[str] | None, str]] = {}

    async def _show(self, name: str) -> tuple[int, list[str] | None, str] | None:
        try:
            response = await self._client.post("/api/show", json={"model": name})
            response.raise_for_status()
            shown = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.debug(
                "could not read the model's window", extra={"model": name, "error": repr(exc)}
            )
            return None
        return context_length_of(shown), capabilities_of(shown), weights_blob_of(shown)

    async def fill(self, models: list[AvailableModel]) -> list[AvailableModel]:
        """``models`` with ``context_length``, ``capabilities`` and ``weights_blob`` set where
        known (new copies; the input is kept)."""
        asked = 0
        filled: list[AvailableModel] = []
        for model in models:
            key = model.digest or model.name
            facts = self._known.get(key)
            if facts is None and asked < self._per_round:
                asked += 1
                facts = await self._show(model.name)
                if facts is not None and (facts[0] or facts[1] or facts[2]):
                    self._known[key] = facts
            window, capabilities, blob = facts or (0, None, "")
            update: dict[str, object] = {"context_length": window, "weights_blob": blob}
            if model.capabilities is None and capabilities is not None:
                update["capabilities"] = capabilities
            filled.append(model.model_copy(update=update))
        return filled
