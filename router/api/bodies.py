"""Reading request bodies safely: a size cap enforced while reading, and JSON parsed once.

Never trusts ``Content-Length`` alone (it may be absent or wrong): the stream is counted.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from router.errors import BadRequest, PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {int(declared)} bytes exceeds the {limit} limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or a ``BadRequest`` saying what is wrong with it."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise BadRequest("request body is empty: expected a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data
