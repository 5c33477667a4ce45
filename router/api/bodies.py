"""Reading request bodies safely: a size cap enforced while reading, and JSON parsed once, bounded.

Never trusts ``Content-Length`` alone (it may be absent or wrong): the stream is counted. Every
JSON body any front end reads goes through ``read_json_object``, which refuses, each with a
``BadRequest`` naming the field:

- nesting deeper than ``MAX_DEPTH`` (checked before parsing, without recursion, so a 3 KB body of
  nested arrays cannot raise ``RecursionError``);
- ``NaN``/``Infinity`` literals and numbers that overflow (``1e999``), integers outside 64 bits;
- strings that are not valid Unicode (a lone surrogate such as ``"\\ud800"`` would fail later,
  in whichever encoder met it first);
- anything that is not one JSON object.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from array import array
from typing import Any

from starlette.requests import Request

from router.errors import BadRequest, PayloadTooLarge

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have (real requests use fewer than ten)."""
INT64 = 2**63 - 1

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    return parse_json_object(await read_body(request, limit))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` parsed as one bounded, valid JSON object (see the module docstring)."""
    if not raw.strip():
        raise BadRequest("request body is empty: expected a JSON object")
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise BadRequest(f"request body nests {depth} levels deep; at most {MAX_DEPTH} allowed")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    problem = first_invalid_value(data)
    if problem is not None:
        raise BadRequest(problem)
    return data


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings, counted without recursion."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return 0
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET).translate(_BRACKET_STEP)
    if not brackets:
        return 0
    return max(itertools.accumulate(array("b", brackets)))


def first_invalid_value(data: Any) -> str | None:
    """What is wrong with the first string or number ``data`` may not hold, naming its field."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return f"{path or 'body'}: string is not valid Unicode (a lone surrogate)"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -INT64 - 1 <= value <= INT64:
                return f"{path or 'body'}: number out of range (64-bit integers only)"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return f"{path or 'body'}: number out of range"
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return f"{path or 'body'}: a key is not valid Unicode (a lone surrogate)"
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")
