"""Rendering errors and JSON for the client that asked: Ollama, OpenAI, Anthropic or herd's own API.

The one place a typed ``HerdError`` becomes an HTTP response.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from router.errors import HerdError
from router.translate.errors import anthropic_error_body, ollama_error_body, openai_error_body

_JSON = "application/json"


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type=_JSON, headers=headers)


def error_response(path: str, error: HerdError) -> Response:
    """``{"error": "..."}`` for Ollama and herd paths, Anthropic's error object under
    ``/v1/messages``, the OpenAI error object elsewhere under ``/v1``."""
    body: dict[str, Any]
    if path.startswith("/v1/messages"):
        body = anthropic_error_body(error)
    elif path.startswith("/v1/"):
        body = openai_error_body(error)
    else:
        body = ollama_error_body(error)
    return json_response(body, status=error.status, headers=error.headers)
