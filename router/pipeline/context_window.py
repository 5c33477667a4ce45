"""Context protection: keep a request from forcing a needless reload of a loaded model.

Pure: given the body the client sent and the context window the chosen node has the model loaded
with, decide what to send. A ``num_ctx`` smaller than the loaded window would only make Ollama
reload the model with a smaller window, so it is dropped (the loaded window holds the prompt).
"""

from __future__ import annotations

from typing import Any


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
