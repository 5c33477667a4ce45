"""The health engine's thresholds and assumptions: every number a check compares against, with
the reason it is what it is, and the score penalty per severity.

Owns the constants only. It must never compute anything: checks read these, nothing writes them.
"""

from __future__ import annotations

from .model import Severity

# --- thresholds ----------------------------------------------------------------------------------
# Rates are fractions of ``TrafficStats.requests_total`` over the window. A rate check only speaks
# when the window holds at least MIN_REQUESTS_FOR_RATES requests and the event count reaches the
# check's own minimum, so that one unlucky request on a quiet day does not raise an alarm.

MIN_REQUESTS_FOR_RATES = 20
"""Below this many requests in the window, rate-based checks stay silent (too little evidence)."""

ERROR_RATE_WARNING = 0.05
"""Failed requests / requests: 5% failing is noticeable to users."""
ERROR_RATE_CRITICAL = 0.20
"""One request in five failing: the fleet is effectively broken for someone."""
ERROR_MIN_COUNT = 3

RETRY_RATE_WARNING = 0.10
"""Extra attempts / requests. Retries hide failures from clients but cost latency and capacity."""
RETRY_RATE_CRITICAL = 0.30
RETRY_MIN_COUNT = 3

TIMEOUT_RATE_WARNING = 0.01
"""Upstream timeouts / requests. A timeout holds a slot for minutes, so even 1% hurts."""
TIMEOUT_RATE_CRITICAL = 0.05
TIMEOUT_MIN_COUNT = 3

DISCONNECT_RATE_INFO = 0.05
"""Requests the client abandoned / requests. Some is normal (users press stop)."""
DISCONNECT_RATE_WARNING = 0.20
"""One in five clients giving up usually means they wait too long for a first token."""
DISCONNECT_MIN_COUNT = 3

INCOMPLETE_RATE_WARNING = 0.01
"""Streams that broke after bytes reached the client and could not go on on another node
(``resume_streams``) / requests."""
INCOMPLETE_RATE_CRITICAL = 0.05
INCOMPLETE_MIN_COUNT = 2

VRAM_FALLBACK_RATE_INFO = 0.01
"""Requests served by an already-loaded stand-in model instead of the cold one asked for."""
VRAM_FALLBACK_RATE_WARNING = 0.10
"""A tenth of requests answered by a different model than requested deserves attention."""
VRAM_FALLBACK_MIN_COUNT = 3

MODEL_FALLBACK_RATE_INFO = 0.01
"""Requests served by one of the client's ``fallback_models`` because the first choice failed."""
MODEL_FALLBACK_RATE_WARNING = 0.10
MODEL_FALLBACK_MIN_COUNT = 3

CONTEXT_PROTECTION_MIN_COUNT = 1
"""Any context-protection event is worth an info: clients send a ``num_ctx`` the node won't use."""
CONTEXT_PROTECTION_RATE_WARNING = 0.25
"""A quarter of requests asking for another context size: the node's setting is probably wrong."""

ZOMBIE_MIN_COUNT = 1
"""Any reaped (stalled) request is an info: a slot was stuck until the reaper freed it."""
ZOMBIE_RATE_WARNING = 0.01
ZOMBIE_COUNT_WARNING = 10
ZOMBIE_RATE_CRITICAL = 0.05

THRASH_WARNING = 5
"""Cold loads of the same model on the same node in the window. Default OLLAMA_KEEP_ALIVE (5m)
explains a few loads a day; five or more means the model is being evicted while still wanted."""
THRASH_CRITICAL = 20

UNDERUTILIZED_MIN_FLEET_REQUESTS = 50
"""The fleet must have served at least this many requests before idleness means anything."""
UNDERUTILIZED_MIN_BUSY_NODE_REQUESTS = 20
"""Some other node must have served at least this many: "while others were busy"."""
UNDERUTILIZED_FAIR_SHARE_FRACTION = 0.05
"""An eligible node is under-used when it served at most 5% of an even split of the traffic."""

KV_CACHE_RATIO_WARNING = 0.25
"""Estimated KV cache of the loaded models / node memory. Above a quarter, the KV cache crowds out
model weights and forces evictions."""
KV_CACHE_RATIO_CRITICAL = 0.50
"""Half the node's memory for KV cache alone: loads fail or spill to CPU/swap."""

KV_KIB_PER_TOKEN_PER_BILLION_PARAMS = 16.0
"""The per-token KV size assumption. An fp16 KV cache costs 2 (K and V) x layers x KV heads x
head dim x 2 bytes per token. For a Llama-3-8B-class model with grouped-query attention (32 layers,
8 KV heads of 128) that is 128 KiB per token, i.e. 16 KiB per billion parameters. We scale that
linearly with the parameter count in ``details.parameter_size`` and clamp it, because larger models
share KV heads more aggressively. It is an estimate for spotting an order-of-magnitude problem, not
an allocator; a quantised KV cache (OLLAMA_KV_CACHE_TYPE=q8_0) halves the real figure."""
KV_KIB_PER_TOKEN_MIN = 32.0
KV_KIB_PER_TOKEN_MAX = 320.0
"""Llama-3-70B (80 layers, 8 KV heads of 128) costs 320 KiB per token in fp16: the ceiling."""
KV_KIB_PER_TOKEN_UNKNOWN = 128.0
"""Used when the parameter size is unknown: the 8B-class figure."""
OLLAMA_DEFAULT_CONTEXT = 4096
"""Context assumed when neither the loaded model nor the node reports one (Ollama's default)."""
OLLAMA_DEFAULT_NUM_PARALLEL = 1
"""Parallel slots assumed when the agent cannot see OLLAMA_NUM_PARALLEL (Ollama's default)."""
MIN_SUGGESTED_CONTEXT = 2048

SEVERITY_PENALTY: dict[Severity, int] = {"critical": 30, "warning": 10, "info": 2}
"""Points subtracted from 100 per finding; the score is clamped to 0..100."""

SEVERITY_RANK: dict[Severity, int] = {"critical": 0, "warning": 1, "info": 2}
"""Sort order of findings: critical first, then warning, then info."""
