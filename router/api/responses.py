"""Rendering errors and JSON for the client that asked: Ollama, OpenAI or herd's own API.

The one place a typed ``HerdError`` becomes an HTTP response.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from router.errors import HerdError

_JSON = "application/json"


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type=_JSON, headers=headers)


def openai_error_body(message: str, status: int, code: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    elif status == 403:
        kind = "permission_error"
    elif status == 404:
        kind = "not_found_error"
    elif status == 429 or status == 503:
        kind = "rate_limit_error" if status == 429 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_response(path: str, error: HerdError) -> Response:
    """``{"error": "..."}`` for Ollama and herd paths, the OpenAI error object under ``/v1``."""
    if path.startswith("/v1/"):
        body = openai_error_body(error.message, error.status, error.code)
    else:
        body = {"error": error.message}
    return json_response(body, status=error.status, headers=error.headers)
