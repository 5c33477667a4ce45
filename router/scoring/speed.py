"""How fast a node runs a model: learned speeds, and the priors used before the first sample.

Owns ``ModelSpeed`` (the measured prefill and decode speed of one model on one node), ``NodeSpeed``
(what one node's measurements say about all its models: its effective memory bandwidth and how
fast it loads weights), ``Speeds`` (all of it, plus each model's typical answer length, as the
router's learning passes it to the scorer) and the functions that turn them into seconds:
``decode_tps``, ``prefill_tps`` and ``load_seconds``.

Where a figure comes from, best first:
1. measured for this model on this node (``router.latency`` learns it from the durations Ollama
   reports: ``prompt_eval_duration``, ``eval_duration``, ``load_duration``);
2. this node's measured effective bandwidth (decode tokens/s x model bytes, over any model it
   served): a node's efficiency carries over to models it has not served yet;
3. the hardware prior: decoding is bound by memory bandwidth, so a model of ``B`` bytes makes about
   ``DECODE_EFFICIENCY x bandwidth / B`` tokens per second (capped at ``MAX_DECODE_TPS``); prompt
   evaluation is ``PREFILL_FACTOR`` times faster; weights load at ``DEFAULT_LOAD_GBPS`` after a
   runner start of ``RUNNER_START_S``.

Pure data and arithmetic: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_BANDWIDTH_GBPS = 100.0
"""Assumed memory bandwidth of a node that reports none and has no measurement (a modest PC)."""
DECODE_EFFICIENCY = 0.6
"""Share of the memory bandwidth a decode step achieves (Apple silicon and GPUs reach 0.5-0.8)."""
MAX_DECODE_TPS = 300.0
"""No decode prior is faster than this (tiny models are bound by compute, not bandwidth)."""
PREFILL_FACTOR = 8.0
"""Prompt evaluation is batched: this many times faster than decoding, before measurement."""
DEFAULT_LOAD_GBPS = 2.0
"""Weight loading throughput (disk to memory) before a node's first measured cold load."""
RUNNER_START_S = 0.7
"""Fixed cost of every load: Ollama starts a runner process before reading any weight."""
DEFAULT_OUTPUT_TOKENS = 256
"""Answer length assumed for a model with no ``num_predict`` and no history."""


@dataclass(frozen=True, slots=True)
class ModelSpeed:
    """Measured speeds of one model on one node (medians of recent requests)."""

    decode_tps: float | None = None
    prefill_tps: float | None = None
    load_s: float | None = None
    """Median measured cold-load seconds (``load_duration``) of this model on this node."""
    samples: int = 0


@dataclass(frozen=True, slots=True)
class NodeSpeed:
    """What a node's measurements say about every model it may run."""

    bandwidth_gbps: float | None = None
    """Effective decode bandwidth: decode tokens/s x model bytes, median over its models."""
    prefill_factor: float | None = None
    """Measured prefill tokens/s over decode tokens/s on this node."""
    load_gbps: float | None = None
    """Measured weight-loading throughput (cold-load bytes / (seconds - runner start))."""


@dataclass(frozen=True, slots=True)
class Speeds:
    """Everything learned about speed, as one read-only value for a routing decision."""

    models: Mapping[tuple[str, str], ModelSpeed] = field(default_factory=dict)
    """(node_id, model) -> measured speeds."""
    nodes: Mapping[str, NodeSpeed] = field(default_factory=dict)
    output_tokens: Mapping[str, float] = field(default_factory=dict)
    """model -> mean generated tokens of its recent answers."""
    wall_per_reported: float = 1.0
    """Wall-clock seconds per second of the durations nodes report (1 for a real Ollama; the
    simulator's time scale for a simulated one). Converts the wall-clock time in-flight requests
    have run into the reported seconds every estimate is in."""


NO_SPEEDS = Speeds()


def decode_tps(
    model: ModelSpeed | None, node: NodeSpeed | None, bandwidth_gbps: float | None, weights: float
) -> float:
    """Decode tokens per second of a model with ``weights`` bytes (measured, else the priors)."""
    if model is not None and model.decode_tps:
        return model.decode_tps
    bandwidth = node.bandwidth_gbps if node is not None and node.bandwidth_gbps else None
    if bandwidth is None:
        bandwidth = (bandwidth_gbps or DEFAULT_BANDWIDTH_GBPS) * DECODE_EFFICIENCY
    return min(bandwidth * 1e9 / max(weights, 1e6), MAX_DECODE_TPS)


def prefill_tps(model: ModelSpeed | None, node: NodeSpeed | None, decode: float) -> float:
    """Prompt tokens per second (measured, else the node's measured ratio, else the prior)."""
    if model is not None and model.prefill_tps:
        return model.prefill_tps
    factor = node.prefill_factor if node is not None and node.prefill_factor else PREFILL_FACTOR
    return decode * factor


def load_seconds(model: ModelSpeed | None, node: NodeSpeed | None, weights: float) -> float:
    """Seconds to load ``weights`` bytes cold: measured for this model, else runner start plus
    the node's throughput (measured, else the prior)."""
    if model is not None and model.load_s:
        return model.load_s
    throughput = node.load_gbps if node is not None and node.load_gbps else DEFAULT_LOAD_GBPS
    return RUNNER_START_S + weights / (throughput * 1e9)
