"""Context protection: a prompt runs in a window that holds it, never truncated silently.

Owns what the pipeline does about the context window once the scorer has ranked the nodes:

- a ``num_ctx`` smaller than the window the model is loaded with would only force a reload with a
  smaller window, so it is dropped (``strip_smaller_num_ctx``);
- when the prompt and its answer do not fit the window the request would run in, the scorer says
  which larger window to ask for (``Choice.num_ctx``) and it is sent (``apply_num_ctx``), so Ollama
  loads the model with a window that holds the prompt instead of cutting it;
- when the requested model is loaded with too small a window and the client allowed fallbacks
  (it sent ``fallback_models``, or the ``context_fallback`` toggle is on), a model of the same
  family already loaded with a window that holds the prompt serves instead, disclosed in
  ``X-Fleet-Fallback`` and the trace (``fallback_reason: context_window``);
- a prompt longer than the model's maximum context (as the node reports it) is refused with a
  400 naming the numbers (``too_long``), rather than truncated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from herd_contract.model_names import normalize
from router.pipeline.candidates import Choice
from router.pipeline.request import InferenceRequest
from router.registry import NodeRecord

CONTEXT_FALLBACK = "context_window"


def strip_smaller_num_ctx(body: dict[str, Any], loaded_context: int) -> bool:
    """Drop ``options.num_ctx`` from ``body`` when it is below ``loaded_context``; True if so."""
    options = body.get("options")
    if not isinstance(options, dict) or "num_ctx" not in options:
        return False
    wanted = options.get("num_ctx")
    if not loaded_context or not isinstance(wanted, int) or wanted >= loaded_context:
        return False
    body["options"] = {k: v for k, v in options.items() if k != "num_ctx"}
    return True


def apply_num_ctx(body: dict[str, Any], num_ctx: int) -> None:
    """Ask for a ``num_ctx`` window (the prompt does not fit the one it would get)."""
    options = body.get("options")
    body["options"] = {**(options if isinstance(options, dict) else {}), "num_ctx": num_ctx}


def loaded_too_small(choice: Choice) -> bool:
    """The model is loaded on the chosen node, but with a window the prompt does not fit."""
    return choice.hot and choice.num_ctx is not None


def holds_prompt(choice: Choice) -> bool:
    """Loaded on the node with a window that holds the prompt and its answer as it is."""
    return choice.hot and choice.num_ctx is None


def fallback_allowed(request: InferenceRequest, toggle: bool) -> bool:
    return toggle or any(m.strip() for m in request.fallback_models)


def same_family_loaded(records: Iterable[NodeRecord], model: str) -> list[str]:
    """Models of ``model``'s family loaded on any of ``records``, except ``model``, sorted."""
    records = list(records)
    families: dict[str, str] = {}
    for record in records:
        for entry in record.heartbeat.ollama.models_available:
            if entry.details.family:
                families.setdefault(normalize(entry.name), entry.details.family)
    family = families.get(model)
    if not family:
        return []
    loaded: set[str] = set()
    for record in records:
        loaded |= record.loaded_models
    return sorted(name for name in loaded if name != model and families.get(name) == family)


def max_context(records: Iterable[NodeRecord], model: str) -> int:
    """The largest context the nodes report ``model`` can take; 0 when none says."""
    return max(
        (
            entry.context_length
            for record in records
            for entry in record.heartbeat.ollama.models_available
            if normalize(entry.name) == model
        ),
        default=0,
    )


def too_long(model: str, prompt_tokens: int, maximum: int) -> str | None:
    """Why a prompt of about ``prompt_tokens`` cannot run on ``model`` at all, or ``None``."""
    if not maximum or prompt_tokens <= maximum:
        return None
    return (
        f"the prompt is about {prompt_tokens} tokens, more than the {maximum}-token context "
        f"{model} can take, so it would be cut; shorten it or use a model with a larger context"
    )
