"""Model names: the one place that turns what a client typed into the key herd uses.

Ollama names are ``[namespace/]name[:tag]``; a missing tag means ``latest``. Never does I/O.
"""

from __future__ import annotations


def normalize(name: str) -> str:
    """Return ``name`` with an explicit tag: ``llama3`` -> ``llama3:latest``.

    Surrounding blanks are dropped; the name is lower-cased, as Ollama treats names
    case-insensitively. A registry host with a port (``host:5000/ns/model``) keeps its colon: only
    the last path segment is inspected for a tag.
    """
    cleaned = name.strip().lower()
    if not cleaned:
        return cleaned
    last_segment = cleaned.rsplit("/", 1)[-1]
    if ":" in last_segment:
        return cleaned
    return f"{cleaned}:latest"


def same_model(a: str, b: str) -> bool:
    """Whether two names denote the same model once normalised."""
    return normalize(a) == normalize(b)


def base_name(name: str) -> str:
    """The name without its tag: ``qwen3:8b`` -> ``qwen3``."""
    full = normalize(name)
    head, _, last = full.rpartition("/")
    stem = last.split(":", 1)[0]
    return f"{head}/{stem}" if head else stem
