"""Another Ollama on the same device (one per GPU, say) as a backend of kind ``ollama``.

Owns ``ExtraOllama``: what the agent reports about an Ollama besides the node's default one (its
models from ``GET /api/tags``, how many requests it takes at once, whether it answers). Its image
models (capability ``image``, from ``/api/tags`` or ``/api/show``) are reported apart, as an
``image`` backend served by that Ollama (``ollama_images``), as the default Ollama's are. The
router sends it Ollama-native requests directly, as it does to the default Ollama; the default
Ollama itself stays the agent's ``OllamaReader`` and the heartbeat's ``ollama`` field.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from herd_contract.heartbeat import AvailableModel
from node.model_windows import ContextWindows

from . import ollama_images
from .http import ServerClient
from .jobs import BackendError, BackendReport


def _models(listed: Any) -> list[AvailableModel]:
    models: list[AvailableModel] = []
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and entry.get("name"):
            try:
                models.append(AvailableModel.model_validate(entry))
            except ValidationError:
                continue
    return models


class ExtraOllama:
    kind = "ollama"
    adapter = "ollama"

    def __init__(
        self,
        url: str,
        *,
        capacity: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = ServerClient(url, timeout_s=5.0, transport=transport)
        self.capacity = capacity
        self.shown = ContextWindows(self.server.client)

    async def reports(self) -> list[BackendReport]:
        """Its language models as an ``ollama`` backend, and its image models (if any) as an
        ``image`` backend."""
        try:
            response = await self.server.call(lambda: self.server.client.get("/api/tags"))
        except BackendError as exc:
            return [
                BackendReport(
                    "ollama", self.adapter, self.server.url, [], reachable=False,
                    capacity=self.capacity, detail=exc.message,
                )
            ]  # fmt: skip
        models = await self.shown.fill(_models(response.json().get("models")))
        llms, images = ollama_images.split(self.server.url, await self._version(), models)
        report = BackendReport(
            "ollama", self.adapter, self.server.url, [m.name for m in llms], capacity=self.capacity
        )
        return [report, images] if images is not None else [report]

    async def _version(self) -> str:
        try:
            response = await self.server.call(lambda: self.server.client.get("/api/version"))
            return str(response.json().get("version", ""))[:64]
        except (BackendError, ValueError, AttributeError):
            return ""

    async def aclose(self) -> None:
        await self.server.aclose()
