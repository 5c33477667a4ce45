"""Another model than the one asked for, when it serves the request better, and prompts no window
holds.

Owns ``Substitutes``, the context-protection and VRAM-fallback rules of the pipeline: a prompt
longer than the model's largest context window anywhere is refused (never cut); when the
requested model's loaded window is too small and the client allowed fallbacks, a loaded model of
the same family whose window holds the prompt is tried first; when the requested model is loaded
nowhere, a loaded stand-in may be (``Ranker.vram_substitute`` decides by the estimate). Either is
disclosed by the trace's and the answer's fallback reason.
"""

from __future__ import annotations

from router.config import RouterSettings, RuntimeToggles
from router.errors import BadRequest
from router.pipeline.candidates import Ranker, Ranking, estimate_prompt_tokens
from router.pipeline.context_window import (
    CONTEXT_FALLBACK,
    fallback_allowed,
    holds_prompt,
    loaded_too_small,
    max_context,
    same_family_loaded,
    too_long,
)
from router.pipeline.request import InferenceRequest


class Substitutes:
    """The window check and the choice of a stand-in model, by the runtime toggles."""

    def __init__(self, settings: RouterSettings, ranker: Ranker) -> None:
        self.settings = settings
        self.ranker = ranker

    @property
    def toggles(self) -> RuntimeToggles:
        return self.settings.toggles

    def refuse_too_long(self, model: str, request: InferenceRequest, ranking: Ranking) -> None:
        """Refuse a prompt longer than the model's whole context, rather than let it be cut."""
        if not self.toggles.context_protection or not ranking.choices:
            return
        if ranking.choices[0].num_ctx is None:
            return  # it fits the window it will run in
        records = [record for record, _ in self.ranker.registry.routable()]
        why = too_long(model, estimate_prompt_tokens(request.body), max_context(records, model))
        if why is not None:
            raise BadRequest(why)

    def substitute(
        self, model: str, request: InferenceRequest, ranking: Ranking
    ) -> tuple[str, Ranking, str] | None:
        """Another model to try first, and why: a loaded model of the same family whose window
        holds a prompt the requested model's loaded window does not (when the client allowed
        fallbacks), or a VRAM stand-in when the requested model is not loaded anywhere."""
        toggles = self.toggles
        if (
            toggles.context_protection
            and ranking.choices
            and loaded_too_small(ranking.choices[0])
            and fallback_allowed(request, toggles.context_fallback)
        ):
            larger = self._larger_window_model(model, request)
            if larger is not None:
                return (*larger, CONTEXT_FALLBACK)
        if toggles.vram_fallback and not ranking.any_hot:
            stand_in = self.ranker.vram_substitute(model, request, ranking)
            if stand_in is not None:
                return (*stand_in, "vram_fallback")
        return None

    def _larger_window_model(
        self, model: str, request: InferenceRequest
    ) -> tuple[str, Ranking] | None:
        """The same-family model, loaded with a window that holds the prompt, expected to finish
        first."""
        records = [record for record, _ in self.ranker.registry.routable()]
        best: tuple[float, str, Ranking] | None = None
        for name in same_family_loaded(records, model):
            candidate = self.ranker.rank(name, request, set())
            fitting = [c for c in candidate.choices if holds_prompt(c)]
            if fitting and (best is None or fitting[0].estimate_s < best[0]):
                candidate.choices = fitting
                best = (fitting[0].estimate_s, name, candidate)
        return (best[1], best[2]) if best else None
