"""Embedding bodies for OpenAI's ``/v1/embeddings``, served by Ollama's ``/api/embed``.

Owns ``/v1/embeddings`` <-> ``/api/embed`` (requests and replies, with ``encoding_format: base64``
packed as little-endian float32). Ollama's older ``/api/embeddings`` is forwarded as it is, never
translated. Never does I/O.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from router.translate.errors import TranslationError

_ENCODINGS = ("float", "base64")
_LITTLE_ENDIAN = sys.byteorder == "little"


def _fail(message: str, param: str | None = None, code: str | None = None) -> TranslationError:
    return TranslationError(message, 400, param, code)


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _fail("'model' is required and must be a non-empty string", "model")
    return model


def encoding_format(body: dict[str, Any]) -> str:
    """The requested ``encoding_format`` ("float" when absent), validated."""
    value = body.get("encoding_format")
    if value is None:
        return "float"
    if value not in _ENCODINGS:
        raise _fail("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    return str(value)


def embeddings_request_to_ollama(body: dict[str, Any]) -> dict[str, Any]:
    """``/v1/embeddings`` body -> ``/api/embed`` body."""
    value = body.get("input")
    if isinstance(value, str):
        texts: str | list[str] = value
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        texts = list(value)
    elif isinstance(value, list) and value:
        raise _fail(
            "token-array inputs are not supported; send text (a string or a list of strings)",
            "input",
            "unsupported_value",
        )
    else:
        raise _fail("'input' must be a string or a non-empty list of strings", "input")
    out: dict[str, Any] = {"model": _model(body), "input": texts}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            raise _fail("'dimensions' must be a positive integer", "dimensions")
        out["dimensions"] = dimensions
    encoding_format(body)
    for key in ("truncate", "keep_alive", "options"):
        if key in body:
            out[key] = body[key]
    return out


def pack_float32_base64(vector: list[float]) -> str:
    """A vector as base64 of little-endian float32 values (OpenAI's ``encoding_format: base64``)."""
    packed = array("f", vector)
    if not _LITTLE_ENDIAN:  # pragma: no cover - big-endian hosts only
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings_response_to_openai(
    reply: dict[str, Any], *, model: str | None = None, encoding: str = "float"
) -> dict[str, Any]:
    """``/api/embed`` reply -> OpenAI ``/v1/embeddings`` reply (``object: "list"``)."""
    vectors = reply.get("embeddings") or []
    if encoding == "base64":
        data = [
            {"object": "embedding", "index": i, "embedding": pack_float32_base64(v)}
            for i, v in enumerate(vectors)
        ]
    else:
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    tokens = reply.get("prompt_eval_count") or 0
    return {
        "object": "list",
        "data": data,
        "model": model if model is not None else reply.get("model", ""),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
