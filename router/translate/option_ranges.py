"""The ranges Ollama's ``options`` must fall in where a number means something; pure.

Checked for every front end (the Ollama body's ``options`` and the options an OpenAI body maps
to) before a request reaches the scorer or a node, so a 4,000-digit ``num_ctx`` or a negative
context window is the client's 400 rather than the router's overflow or a node's 502 counted
against the node.
"""

from __future__ import annotations

from typing import Any

from router.translate.errors import TranslationError

MAX_CONTEXT_TOKENS = 16_777_216
"""The largest ``num_ctx`` accepted (2^24 tokens; today's longest models use a sixteenth)."""
MAX_TOKENS = 2**31 - 1

WHOLE_NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "num_ctx": (1, MAX_CONTEXT_TOKENS),
    "num_predict": (-2, MAX_TOKENS),
    "num_keep": (-1, MAX_TOKENS),
    "num_batch": (1, MAX_TOKENS),
    "num_gpu": (-1, MAX_TOKENS),
    "num_thread": (0, 65_536),
    "top_k": (0, MAX_TOKENS),
    "repeat_last_n": (-1, MAX_TOKENS),
}
"""Ollama's integer options: -1 means "all" or "auto" and -2 "fill the context" where Ollama
gives them that meaning."""


def check_options(options: Any, where: str = "options") -> None:
    """Raise a 400 naming the option when ``options`` holds a number out of its range."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise TranslationError(f"'{where}' must be an object", 400, where)
    for name, (low, high) in WHOLE_NUMBER_RANGES.items():
        value = options.get(name)
        if value is None:
            continue
        param = f"{where}.{name}"
        check_whole_number(value, param, low, high)


def check_whole_number(value: Any, param: str, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number in ``[low, high]``; a 400 naming it if not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(f"'{param}' must be a whole number", 400, param)
    if isinstance(value, float) and not value.is_integer():
        raise TranslationError(f"'{param}' must be a whole number, got {value}", 400, param)
    if not low <= value <= high:
        shown = value if abs(value) < 10**12 else "a number that large"
        raise TranslationError(
            f"'{param}' must be between {low} and {high}, got {shown}", 400, param
        )
    return int(value)
