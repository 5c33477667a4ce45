"""The recommender's planning assumptions: memory headroom and the operating system's share, the
disk reserve, the default context, runtime overheads, decode-speed floors, the fleet role split,
the usage prior and the bonuses that break near-ties (documented in the package docstring).

Owns the constants only. It must never compute anything.
"""

from __future__ import annotations

from collections.abc import Mapping

# --- planning assumptions (documented in the package docstring) ---------------------------------

MEMORY_HEADROOM = 0.20
OS_SHARE_FRACTION = 1 / 16
OS_SHARE_MIN_GB = 2.0
OS_SHARE_MAX_GB = 8.0
DISK_RESERVE_FRACTION = 0.02
DISK_RESERVE_MIN_GB = 2.0
DISK_RESERVE_MAX_GB = 10.0
DEFAULT_CONTEXT_TOKENS = 4096
LLM_OVERHEAD_GB = 0.5
EMBEDDING_OVERHEAD_GB = 0.1
MIN_DECODE_TPS = 5.0
FAST_MIN_DECODE_TPS = 20.0
FAST_MAX_PARAMS_B = 4.0
ROLE_SPLIT_RATIO = 2.0
ROLE_SPLIT_CAP = 0.5
MIN_ROLE_SHARE = 0.03
FAST_SHARE_OF_CHAT = 0.25
PRIOR_REQUESTS = 50
DEFAULT_CATEGORY_SHARES: Mapping[str, float] = {
    "chat": 0.55,
    "code": 0.25,
    "embedding": 0.20,
    "reasoning": 0.0,
    "vision": 0.0,
}
USAGE_BONUS = 10.0
INSTALLED_BONUS = 1.5
LOADED_BONUS = 0.5
SECONDARY_PENALTY = 5.0
TIE_PER_GB = 1e-3
EPS = 1e-9
