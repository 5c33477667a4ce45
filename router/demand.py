"""Recent demand per model: how often each model is asked for, as a decaying rate.

Owns one exponentially decayed counter per model (half-life ``HALF_LIFE_S``): ``note`` adds a
request, ``rates`` gives requests per second per model as of a moment. The scorer weighs the cost
of evicting a model by it, and placement keeps models where demand is. Time is passed in; no I/O.
"""

from __future__ import annotations

import math

HALF_LIFE_S = 120.0
"""A request counts half as much two minutes later."""
_DECAY = math.log(2) / HALF_LIFE_S


class Demand:
    """Decayed request counts per model."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[float, float]] = {}
        """model -> (decayed count, when it was last brought up to date)."""
        self._rates: dict[str, float] = {}
        self._rates_at: float | None = None

    def note(self, model: str, now: float) -> None:
        """One request for ``model`` at ``now``."""
        count, at = self._counts.get(model, (0.0, now))
        self._counts[model] = (count * math.exp(-_DECAY * max(now - at, 0.0)) + 1.0, now)

    def rates(self, now: float) -> dict[str, float]:
        """Requests per second per model (count x decay rate: a steady rate r reads as r).

        Recomputed at most once per second of ``now``; read-only for the caller."""
        if self._rates_at is None or abs(now - self._rates_at) >= 1.0:
            self._rates = {
                model: count * math.exp(-_DECAY * max(now - at, 0.0)) * _DECAY
                for model, (count, at) in self._counts.items()
            }
            self._rates_at = now
        return self._rates
