"""Speed history for the scorer: what each node:model really did, learned from Ollama's durations.

Owns bounded rings of recent measurements per (node_id, model), taken from the durations Ollama
reports with every answer: decode speed (``eval_count / eval_duration``), prefill speed
(``prompt_eval_count / prompt_eval_duration``, when the prompt was long enough to time) and cold
loads (``load_duration`` above ``COLD_LOAD_MIN_S``), plus each model's recent answer lengths and
how wall-clock time compares with the reported durations (``total_duration``). From
them it derives, once per new observation, the ``router.scoring.Speeds`` value the scorer reads:
medians per node:model, and per node its effective bandwidth (decode tokens/s x weight bytes),
prefill-to-decode ratio and load throughput, which carry over to models the node has not served.
At start it is seeded from the store's recent completed traces.

Backends other than Ollama report no durations of that kind: for them it keeps how long each job
took on each node:model (``observe_job``: the backend's own figure when it gives one, else the
wall clock; at start, the image and transcription jobs in the store) and answers their medians
(``job_seconds``), which placement uses instead of its fixed prior per kind.

No clock, no I/O, no locking (it lives on the event loop).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from router.scoring import ModelSpeed, NodeSpeed, Speeds
from router.scoring.speed import RUNNER_START_S

Key = tuple[str, str]
"""``(node_id, model)``."""

COLD_LOAD_MIN_S = 0.1
"""A ``load_duration`` shorter than this was a hot model (Ollama reports a few ms then)."""
MIN_PREFILL_TOKENS = 16
"""Fewer prompt tokens than this time too short to measure a prefill speed (a cached prompt)."""
MIN_DECODE_TOKENS = 4
MIN_TIMED_S = 0.05
"""Answers shorter than this (reported) say little about the wall clock against the reported one."""


@dataclass(frozen=True, slots=True)
class Run:
    """What Ollama reported for one answer (durations in nanoseconds, ``None`` when absent)."""

    weights: float
    """Bytes of the model's weights on that node (its file size)."""
    prompt_tokens: int | None = None
    prompt_ns: int | None = None
    output_tokens: int | None = None
    eval_ns: int | None = None
    load_ns: int | None = None
    total_ns: int | None = None
    wall_s: float | None = None
    """Wall-clock seconds from dispatch to the last byte, as the router saw them."""

    @classmethod
    def from_final(
        cls, weights: float, final: Mapping[str, object], wall_s: float | None = None
    ) -> Run:
        """From the last object of an Ollama answer (``eval_count``, ``eval_duration``, ...)."""
        return cls(
            weights,
            as_int(final.get("prompt_eval_count")),
            as_int(final.get("prompt_eval_duration")),
            as_int(final.get("eval_count")),
            as_int(final.get("eval_duration")),
            as_int(final.get("load_duration")),
            as_int(final.get("total_duration")),
            wall_s,
        )


class _Ring:
    __slots__ = ("decode", "load", "prefill", "weights")

    def __init__(self, size: int) -> None:
        self.decode: deque[float] = deque(maxlen=size)
        self.prefill: deque[float] = deque(maxlen=size)
        self.load: deque[float] = deque(maxlen=size)
        self.weights = 0.0


class SpeedHistory:
    """Bounded per node:model measurements and the ``Speeds`` derived from them."""

    def __init__(self, max_samples: int = 64) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self.max_samples = max_samples
        self._rings: dict[Key, _Ring] = {}
        self._outputs: dict[str, deque[int]] = {}
        self._wall_ratios: deque[float] = deque(maxlen=max_samples)
        self._speeds: Speeds | None = None
        self._jobs: dict[Key, deque[float]] = {}
        self._job_medians: dict[Key, float] | None = None
        self.version = 0
        """Bumped on every observation."""

    def observe(self, node_id: str, model: str, run: Run) -> None:
        """Take one completed answer in; unusable figures are skipped."""
        ring = self._rings.get((node_id, model))
        if ring is None:
            ring = self._rings[(node_id, model)] = _Ring(self.max_samples)
        if run.weights > 0:
            ring.weights = run.weights
        if run.output_tokens and run.output_tokens >= MIN_DECODE_TOKENS and run.eval_ns:
            ring.decode.append(run.output_tokens / run.eval_ns * 1e9)
        if run.prompt_tokens and run.prompt_tokens >= MIN_PREFILL_TOKENS and run.prompt_ns:
            ring.prefill.append(run.prompt_tokens / run.prompt_ns * 1e9)
        if run.load_ns and run.load_ns / 1e9 >= COLD_LOAD_MIN_S:
            ring.load.append(run.load_ns / 1e9)
        if run.wall_s and run.total_ns and run.total_ns / 1e9 >= MIN_TIMED_S:
            self._wall_ratios.append(run.wall_s / (run.total_ns / 1e9))
        if run.output_tokens:
            outputs = self._outputs.get(model)
            if outputs is None:
                outputs = self._outputs[model] = deque(maxlen=self.max_samples)
            outputs.append(run.output_tokens)
        self._speeds = None
        self.version += 1

    def observe_job(self, node_id: str, model: str, seconds: float) -> None:
        """Take one finished job of a non-Ollama backend in (seconds it took there)."""
        if not seconds > 0:
            return
        ring = self._jobs.get((node_id, model))
        if ring is None:
            ring = self._jobs[(node_id, model)] = deque(maxlen=self.max_samples)
        ring.append(seconds)
        self._job_medians = None
        self.version += 1

    def job_seconds(self) -> Mapping[Key, float]:
        """Median seconds per job for each node:model measured so far (read-only)."""
        if self._job_medians is None:
            self._job_medians = {
                key: median for key, ring in self._jobs.items() if (median := _median(ring))
            }
        return self._job_medians

    def seed(self, rows: Iterable[tuple[object, ...]]) -> int:
        """Load stored rows ``(node_id, model, completion_tokens, eval_duration_ns,
        load_duration_ns)``, oldest first. Returns the rows used."""
        used = 0
        for node_id, model, tokens, eval_ns, load_ns in rows:
            if not isinstance(node_id, str) or not isinstance(model, str):
                continue
            self.observe(
                node_id,
                model,
                Run(0.0, None, None, as_int(tokens), as_int(eval_ns), as_int(load_ns)),
            )
            used += 1
        return used

    def speeds(self) -> Speeds:
        """What the scorer reads; the same value until the next observation (read-only)."""
        if self._speeds is None:
            self._speeds = self._derive()
        return self._speeds

    def _derive(self) -> Speeds:
        models: dict[Key, ModelSpeed] = {}
        per_node: dict[str, tuple[list[float], list[float], list[float]]] = {}
        for (node_id, model), ring in self._rings.items():
            decode = _median(ring.decode)
            prefill = _median(ring.prefill)
            load = _median(ring.load)
            samples = max(len(ring.decode), len(ring.load))
            if samples:
                models[(node_id, model)] = ModelSpeed(decode, prefill, load, samples)
            bandwidths, ratios, throughputs = per_node.setdefault(node_id, ([], [], []))
            if decode and ring.weights:
                bandwidths.append(decode * ring.weights / 1e9)
            if decode and prefill:
                ratios.append(prefill / decode)
            if load and ring.weights:
                throughputs.append(ring.weights / 1e9 / max(load - RUNNER_START_S, 0.05))
        nodes = {
            node_id: NodeSpeed(_median(bw), _median(ratio), _median(tput))
            for node_id, (bw, ratio, tput) in per_node.items()
            if bw or ratio or tput
        }
        outputs = {model: statistics.fmean(values) for model, values in self._outputs.items()}
        return Speeds(models, nodes, outputs, _median(self._wall_ratios) or 1.0)

    def __len__(self) -> int:
        return len(self._rings)


def _median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def as_int(value: object) -> int | None:
    """A JSON number as an int; ``None`` for anything else (booleans included)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
