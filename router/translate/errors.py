"""Translation errors, and every error rendered in each client's wire format.

Owns ``TranslationError`` (raised by every translator in this package when a body cannot be
mapped) and the renderings of an error: Ollama's ``{"error": "..."}`` body and NDJSON line,
OpenAI's error object and its SSE event, Anthropic's error object and its SSE event. The only place
an OpenAI error object is built: ``router.api.responses`` renders HTTP errors with these. Never
does I/O; never decides HTTP status codes beyond reading them off the exception.
"""

from __future__ import annotations

import json
from typing import Any

from router.errors import HerdError

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

_GENERIC_MESSAGE = "internal server error"


class TranslationError(HerdError):
    """A request or response that cannot be translated; ``status`` is what the client should see.

    ``param`` names the offending field (OpenAI's ``error.param``, e.g. ``messages[2].content``),
    ``code`` is a short machine-readable reason (OpenAI's ``error.code``) or ``None``.
    """

    def __init__(
        self,
        message: str,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code  # type: ignore[assignment]
        self.headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"TranslationError({self.message!r}, status={self.status}, "
            f"param={self.param!r}, code={self.code!r})"
        )


_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def openai_error_type(status: int) -> str:
    """OpenAI's ``error.type`` for an HTTP status: what kind of client mistake, or a server fault.

    The one mapping used for every OpenAI error the router renders (HTTP bodies and SSE events).
    """
    found = _OPENAI_TYPES.get(status)
    if found is not None:
        return found
    return "invalid_request_error" if status < 500 else "server_error"


def _parts(
    error: str | BaseException, status: int | None
) -> tuple[str, int, str | None, str | None]:
    """Message, status, param and code of a message or an exception.

    Exceptions that carry a ``status`` (``HerdError`` and subclasses) are shown as they are; any
    other exception is an internal fault whose text is not leaked to the client.
    """
    if isinstance(error, str):
        return error, status if status is not None else 500, None, None
    exc_status = getattr(error, "status", None)
    if not isinstance(exc_status, int):
        return _GENERIC_MESSAGE, status if status is not None else 500, None, None
    message = getattr(error, "message", None) or str(error)
    param = getattr(error, "param", None)
    code = getattr(error, "code", None)
    return (
        str(message),
        status if status is not None else exc_status,
        param if isinstance(param, str) else None,
        code if isinstance(code, str) else None,
    )


def ollama_error_body(error: str | BaseException) -> dict[str, str]:
    """Ollama's error body: ``{"error": "message"}``."""
    return {"error": _parts(error, None)[0]}


def openai_error_body(
    error: str | BaseException,
    status: int | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``.

    With an exception, status/param/code come from it unless given here; a plain message defaults
    to status 500.
    """
    message, final_status, exc_param, exc_code = _parts(error, status)
    return {
        "error": {
            "message": message,
            "type": openai_error_type(final_status),
            "param": param if param is not None else exc_param,
            "code": code if code is not None else exc_code,
        }
    }


def ollama_error_line(error: str | BaseException) -> bytes:
    """An error in the middle of an NDJSON stream: one line ``{"error":"..."}\\n``."""
    return _encode(ollama_error_body(error)).encode() + b"\n"


def openai_error_event(
    error: str | BaseException,
    status: int | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """An error in the middle of an SSE stream: ``data: {"error":{...}}\\n\\n``."""
    body = openai_error_body(error, status, param=param, code=code)
    return b"data: " + _encode(body).encode() + b"\n\n"


def error_status(error: BaseException) -> int:
    """The HTTP status to answer with for ``error`` (500 for anything untyped)."""
    status = getattr(error, "status", None)
    return status if isinstance(status, int) else 500


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status (``api_error`` for other server faults)."""
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def anthropic_error_body(error: str | BaseException, status: int | None = None) -> dict[str, Any]:
    """Anthropic's error body: ``{"type": "error", "error": {"type", "message"}}``."""
    message, final_status, _, _ = _parts(error, status)
    return {
        "type": "error",
        "error": {"type": anthropic_error_type(final_status), "message": message},
    }


def anthropic_error_event(error: str | BaseException, status: int | None = None) -> bytes:
    """An error in the middle of an Anthropic SSE stream: ``event: error`` and its body."""
    body = _encode(anthropic_error_body(error, status)).encode()
    return b"event: error\ndata: " + body + b"\n\n"
