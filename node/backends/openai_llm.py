"""An OpenAI-compatible LLM and embedding server (llama.cpp's server, vLLM, LM Studio,
``mlx_lm.server``) as a backend of kind ``openai``.

Owns ``OpenAILLM``: what the agent reports about such a server (its models from ``/v1/models``,
how many requests it takes at once, whether it answers). The router sends chat, completion and
embedding requests to the server directly; this adapter never forwards traffic.
"""

from __future__ import annotations

import httpx

from .http import ServerClient
from .jobs import BackendError, BackendReport


class OpenAILLM:
    kind = "openai"
    adapter = "openai"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        capacity: int = 4,
        models: list[str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = ServerClient(url, api_key=api_key, timeout_s=5.0, transport=transport)
        self.capacity = capacity
        self.fixed_models = models

    async def report(self) -> BackendReport:
        try:
            models = self.fixed_models or await self.server.model_ids()
        except BackendError as exc:
            return BackendReport(
                "openai",
                self.adapter,
                self.server.url,
                self.fixed_models or [],
                reachable=False,
                capacity=self.capacity,
                detail=exc.message,
            )
        return BackendReport(
            "openai", self.adapter, self.server.url, models, capacity=self.capacity
        )

    async def aclose(self) -> None:
        await self.server.aclose()
