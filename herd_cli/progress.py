"""A pull's progress as ``ollama pull`` shows it: a line per step, a bar per layer.

Fed Ollama's pull status objects (``{"status": "pulling <digest>", "digest", "total",
"completed"}``, ``{"status": "success"}``...) in order, it keeps per-layer bytes, rate and time
left, and renders them: all lines redrawn in place on a terminal, or, for pipes, a line each time a
step starts or a layer passes another quarter. Pure apart from the clock it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from herd_cli.render import WIDTH, bar, human_bytes, human_duration

BAR_WIDTH = 20
PLAIN_STEPS = 4


@dataclass(slots=True)
class Layer:
    digest: str
    total: int
    completed: int = 0
    started: float = 0.0
    updated: float = 0.0
    reported_step: int = -1

    @property
    def fraction(self) -> float:
        return self.completed / self.total if self.total else 0.0

    def rate(self) -> float | None:
        elapsed = self.updated - self.started
        return self.completed / elapsed if elapsed > 0 and self.completed else None


@dataclass(slots=True)
class PullProgress:
    clock: Callable[[], float] = time.monotonic
    steps: list[str] = field(default_factory=list)
    layers: dict[str, Layer] = field(default_factory=dict)
    order: list[tuple[str, str]] = field(default_factory=list)
    """What to draw, in order of first appearance: ("step", text) or ("layer", digest)."""
    done: bool = False

    def feed(self, event: dict[str, object]) -> list[str]:
        """Take one status object; return the lines a plain (non-terminal) output should add."""
        now = self.clock()
        status = str(event.get("status") or "")
        digest = event.get("digest")
        total = event.get("total")
        if isinstance(digest, str) and isinstance(total, int) and total > 0:
            return self._layer(digest, total, event.get("completed"), now)
        if status == "success":
            self.done = True
        if status and (not self.steps or self.steps[-1] != status):
            self.steps.append(status)
            if not _names_a_layer(status):
                self.order.append(("step", status))
            return [status]
        return []

    def _layer(self, digest: str, total: int, completed: object, now: float) -> list[str]:
        layer = self.layers.get(digest)
        if layer is None:
            layer = self.layers[digest] = Layer(digest, total, started=now, updated=now)
            self.order.append(("layer", digest))
        layer.total = total
        if isinstance(completed, int):
            layer.completed = min(max(completed, 0), total)
        layer.updated = now
        step = int(layer.fraction * PLAIN_STEPS)
        if step > layer.reported_step:
            layer.reported_step = step
            return [self.layer_line(layer, fancy=False)]
        return []

    def layer_line(self, layer: Layer, fancy: bool, width: int = WIDTH) -> str:
        rate = layer.rate()
        left = (layer.total - layer.completed) / rate if rate else None
        tail = f"{human_bytes(layer.completed)}/{human_bytes(layer.total)}"
        if rate and layer.completed < layer.total:
            tail += f"  {human_bytes(rate)}/s  {human_duration(left)}"
        head = f"pulling {layer.digest.removeprefix('sha256:')[:12]}"
        line = (
            f"{head}  {layer.fraction * 100:3.0f}% {bar(layer.fraction, BAR_WIDTH, fancy)} {tail}"
        )
        return line[:width]

    def screen(self, width: int = WIDTH) -> list[str]:
        """Every line, for redrawing in place on a terminal: steps, and a bar per layer."""
        return [
            self.layer_line(self.layers[item], True, width) if kind == "layer" else item
            for kind, item in self.order
        ]

    @property
    def percent(self) -> float:
        total = sum(layer.total for layer in self.layers.values())
        done = sum(layer.completed for layer in self.layers.values())
        return 100.0 if self.done else (100.0 * done / total if total else 0.0)


def _names_a_layer(status: str) -> bool:
    """``pulling 5229de6df837`` is drawn as that layer's bar; ``pulling manifest`` is a step."""
    return status.startswith("pulling ") and status != "pulling manifest"
