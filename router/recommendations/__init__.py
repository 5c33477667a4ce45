"""Model recommendations: which mix of models each node should keep, and why.

Owns ``recommend(nodes, usage, catalogue)``, the pure function behind
``GET /dashboard/api/recommendations``, the ``UsageSummary`` it reads and the response models it
returns. It never does I/O, never reads a clock and never pulls or deletes anything: the edge passes
in node snapshots and a usage summary and shows the answer; the operator acts on it.

How a mix is chosen, per node:

1. **Budgets.** Usable memory is the node's RAM minus a 20% headroom and the operating system's
   share (1/16 of RAM, 2 to 8 GB). A model's memory is its weights plus the KV cache for the node's
   context (``OLLAMA_CONTEXT_LENGTH``, else Ollama's default of 4,096 tokens) times
   ``OLLAMA_NUM_PARALLEL``, plus a small runtime overhead; a loaded model counts at its measured
   size. Models not yet on disk must also fit the free disk minus a reserve.
2. **Roles.** Demand per category comes from the fleet's real usage, blended with a default prior
   (chat 55%, code 25%, embeddings 20%) that dominates only while little traffic is recorded, so an
   empty usage gives the default mix: a general chat model as large as fits, a coder, an embedding
   model and a small fast model (a quarter of chat demand). Roles under 3% of demand are dropped.
3. **Role split.** When the fleet holds a node with at least twice this node's usable memory, each
   model here is capped at half of this node's usable memory: the biggest models go to the big
   machine, small nodes get small fast models and embeddings.
4. **Choice.** For every role one catalogue model (or none) is chosen to maximise the sum of
   ``role share x quality``, subject to the memory, disk and ``OLLAMA_MAX_LOADED_MODELS`` limits
   (an exact branch-and-bound search; one model may fill several roles, e.g. a thinking chat
   model also covers reasoning). Models the fleet actually requests, already installed or loaded
   get a small bonus, so real usage and what is already there win near-ties. When the memory
   bandwidth is known, models that would decode too slowly are left out.

Models on a node that are neither in its mix, nor loaded, nor requested during the usage window are
listed as removable, with the disk they would free (only once some usage has been recorded).

Layout: ``model`` (inputs and outputs), ``assumptions`` (the planning constants), ``demand`` (roles
from usage), ``budget`` (memory and disk budgets, node facts), ``selection`` (the search),
``reasons`` (the wording), ``removal`` (what could be deleted), ``report`` (``recommend``). This
module only re-exports the public API.
"""

from .assumptions import (
    DEFAULT_CATEGORY_SHARES,
    DEFAULT_CONTEXT_TOKENS,
    DISK_RESERVE_FRACTION,
    DISK_RESERVE_MAX_GB,
    DISK_RESERVE_MIN_GB,
    EMBEDDING_OVERHEAD_GB,
    FAST_MAX_PARAMS_B,
    FAST_MIN_DECODE_TPS,
    FAST_SHARE_OF_CHAT,
    INSTALLED_BONUS,
    LLM_OVERHEAD_GB,
    LOADED_BONUS,
    MEMORY_HEADROOM,
    MIN_DECODE_TPS,
    MIN_ROLE_SHARE,
    OS_SHARE_FRACTION,
    OS_SHARE_MAX_GB,
    OS_SHARE_MIN_GB,
    PRIOR_REQUESTS,
    ROLE_SPLIT_CAP,
    ROLE_SPLIT_RATIO,
    SECONDARY_PENALTY,
    USAGE_BONUS,
)
from .model import (
    ModelRecommendation,
    NodeRecommendation,
    RecommendationsReport,
    RemovableModel,
    UsageSummary,
)
from .report import recommend

__all__ = [
    "DEFAULT_CATEGORY_SHARES",
    "DEFAULT_CONTEXT_TOKENS",
    "DISK_RESERVE_FRACTION",
    "DISK_RESERVE_MAX_GB",
    "DISK_RESERVE_MIN_GB",
    "EMBEDDING_OVERHEAD_GB",
    "FAST_MAX_PARAMS_B",
    "FAST_MIN_DECODE_TPS",
    "FAST_SHARE_OF_CHAT",
    "INSTALLED_BONUS",
    "LLM_OVERHEAD_GB",
    "LOADED_BONUS",
    "MEMORY_HEADROOM",
    "MIN_DECODE_TPS",
    "MIN_ROLE_SHARE",
    "OS_SHARE_FRACTION",
    "OS_SHARE_MAX_GB",
    "OS_SHARE_MIN_GB",
    "PRIOR_REQUESTS",
    "ROLE_SPLIT_CAP",
    "ROLE_SPLIT_RATIO",
    "SECONDARY_PENALTY",
    "USAGE_BONUS",
    "ModelRecommendation",
    "NodeRecommendation",
    "RecommendationsReport",
    "RemovableModel",
    "UsageSummary",
    "recommend",
]
