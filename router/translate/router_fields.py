"""Router-only request fields: taken out of a body before it is forwarded, never sent upstream.

Owns ``fallback_models`` (models to try, in order, when the requested one cannot be served) and
request tags, gathered from ``metadata.tags``, the ``X-Herd-Tags`` header (comma separated) and
OpenAI's ``user`` (as ``user:<value>``). Validates types and sizes. Never does I/O and never
mutates the body it is given.
"""

from __future__ import annotations

from typing import Any

from router.translate.errors import TranslationError

MAX_TAGS = 32
MAX_TAG_LENGTH = 128
MAX_FALLBACK_MODELS = 8
TAGS_HEADER = "X-Herd-Tags"


def _fail(message: str, param: str) -> TranslationError:
    return TranslationError(message, 400, param, "invalid_router_field")


def _add_tag(tags: list[str], seen: set[str], raw: str, param: str) -> None:
    tag = raw.strip()
    if not tag or tag in seen:
        return
    if len(tag) > MAX_TAG_LENGTH:
        raise _fail(f"a tag is longer than {MAX_TAG_LENGTH} characters", param)
    if len(tags) >= MAX_TAGS:
        raise _fail(f"at most {MAX_TAGS} tags are allowed per request", param)
    seen.add(tag)
    tags.append(tag)


def _fallbacks(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail("'fallback_models' must be a list of model names", "fallback_models")
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise _fail(
                "'fallback_models' must contain non-empty strings only", f"fallback_models[{i}]"
            )
        cleaned = name.strip()
        if cleaned not in out:
            out.append(cleaned)
    if len(out) > MAX_FALLBACK_MODELS:
        raise _fail(f"at most {MAX_FALLBACK_MODELS} fallback models are allowed", "fallback_models")
    return out


def extract_router_fields(
    body: dict[str, Any], header_tags: str | None = None
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Split ``body`` into (clean_body, tags, fallback_models).

    ``clean_body`` is a shallow copy without ``fallback_models``, ``user`` and ``metadata.tags``
    (``metadata`` is dropped when nothing else is left in it). Tags keep first-seen order without
    duplicates: ``metadata.tags``, then the header's, then ``user:<value>``.
    """
    clean = dict(body)
    fallbacks = _fallbacks(clean.pop("fallback_models", None))
    tags: list[str] = []
    seen: set[str] = set()

    if "metadata" in clean:
        metadata = clean["metadata"]
        if metadata is None:
            del clean["metadata"]
        elif not isinstance(metadata, dict):
            raise _fail("'metadata' must be an object", "metadata")
        elif "tags" in metadata:
            rest = {k: v for k, v in metadata.items() if k != "tags"}
            if rest:
                clean["metadata"] = rest
            else:
                del clean["metadata"]
            body_tags = metadata["tags"]
            if isinstance(body_tags, str):
                body_tags = [body_tags]
            if body_tags is not None and not isinstance(body_tags, list):
                raise _fail("'metadata.tags' must be a list of strings", "metadata.tags")
            for i, tag in enumerate(body_tags or []):
                if not isinstance(tag, str):
                    raise _fail("'metadata.tags' must contain strings only", f"metadata.tags[{i}]")
                _add_tag(tags, seen, tag, f"metadata.tags[{i}]")

    if header_tags:
        for tag in header_tags.split(","):
            _add_tag(tags, seen, tag, TAGS_HEADER)

    if "user" in clean:
        user = clean.pop("user")
        if user is not None and not isinstance(user, str):
            raise _fail("'user' must be a string", "user")
        if user and user.strip():
            _add_tag(tags, seen, f"user:{user.strip()}", "user")

    return clean, tags, fallbacks
