"""Another Ollama on the same device (one per GPU, say) as a backend of kind ``ollama``.

Owns ``ExtraOllama``: what the agent reports about an Ollama besides the node's default one (its
models from ``GET /api/tags``, how many requests it takes at once, whether it answers). The router
sends it Ollama-native requests directly, as it does to the default Ollama; the default Ollama
itself stays the agent's ``OllamaReader`` and the heartbeat's ``ollama`` field.
"""

from __future__ import annotations

from typing import Any

import httpx

from .http import ServerClient
from .jobs import BackendError, BackendReport


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

    async def report(self) -> BackendReport:
        try:
            response = await self.server.call(lambda: self.server.client.get("/api/tags"))
        except BackendError as exc:
            return BackendReport(
                "ollama", self.adapter, self.server.url, [], reachable=False,
                capacity=self.capacity, detail=exc.message,
            )  # fmt: skip
        listed: Any = response.json().get("models", [])
        models = [str(m["name"]) for m in listed if isinstance(m, dict) and m.get("name")]
        return BackendReport(
            "ollama", self.adapter, self.server.url, models, capacity=self.capacity
        )

    async def aclose(self) -> None:
        await self.server.aclose()
