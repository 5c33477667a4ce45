"""Embedding bodies in every shape herd serves: OpenAI `/v1/embeddings` and both Ollama endpoints.

Owns ``/v1/embeddings`` <-> ``/api/embed`` (requests and replies, with ``encoding_format: base64``
packed as little-endian float32) and Ollama's older ``/api/embeddings {model, prompt}`` <->
``/api/embed {model, input}``. Note that Ollama normalises ``/api/embed`` vectors while the older
endpoint returned them raw; a router that translates one into the other changes that detail.
Never does I/O.
"""

from __future__ import annotations

import base64
import struct
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


def unpack_float32_base64(text: str) -> list[float]:
    """The inverse of ``pack_float32_base64`` (used by tests and clients)."""
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


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


def legacy_request_to_embed(body: dict[str, Any]) -> dict[str, Any]:
    """``/api/embeddings {model, prompt}`` -> ``/api/embed {model, input}``; other keys kept."""
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise _fail("'prompt' must be a string", "prompt")
    out = {k: v for k, v in body.items() if k != "prompt"}
    out["model"] = _model(body)
    out["input"] = prompt
    return out


def embed_request_to_legacy(body: dict[str, Any]) -> dict[str, Any]:
    """``/api/embed {model, input}`` -> ``/api/embeddings {model, prompt}`` (one input only)."""
    value = body.get("input", "")
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], str):
            raise _fail("the older /api/embeddings takes exactly one text input", "input")
        value = value[0]
    if not isinstance(value, str):
        raise _fail("'input' must be a string or a list of strings", "input")
    out = {k: v for k, v in body.items() if k not in ("input", "dimensions", "truncate")}
    out["model"] = _model(body)
    out["prompt"] = value
    return out


def embed_response_to_legacy(reply: dict[str, Any]) -> dict[str, Any]:
    """``/api/embed`` reply -> ``/api/embeddings`` reply: ``{"embedding": embeddings[0]}``."""
    vectors = reply.get("embeddings") or []
    return {"embedding": vectors[0] if vectors else []}


def legacy_response_to_embed(reply: dict[str, Any], *, model: str) -> dict[str, Any]:
    """``/api/embeddings`` reply -> ``/api/embed`` reply; other keys (durations...) kept."""
    out = {k: v for k, v in reply.items() if k != "embedding"}
    out["model"] = reply.get("model", model)
    vector = reply.get("embedding") or []
    out["embeddings"] = [vector] if vector else []
    return out
