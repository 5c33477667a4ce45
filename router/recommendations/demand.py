"""Demand: what the fleet asks for, as planning roles. Blends the recorded usage with the default
prior into category shares, splits chat into a general and a fast role, drops roles under
``MIN_ROLE_SHARE``, and counts requests per catalogue model; also the roles' order and labels.

Owns ``Role``, ``Demand`` and ``demand_of``. It must never look at nodes or choose models.
"""

from __future__ import annotations

from dataclasses import dataclass

from herd_contract.model_names import normalize
from router.catalogue import CATEGORIES, Catalogue, Category, guess_category

from .assumptions import DEFAULT_CATEGORY_SHARES, FAST_SHARE_OF_CHAT, MIN_ROLE_SHARE, PRIOR_REQUESTS
from .model import UsageSummary

CATEGORY_ALIASES = {
    "embed": "embedding",
    "embeddings": "embedding",
    "generate": "chat",
    "completion": "chat",
    "coding": "code",
    "image_input": "vision",
    "thinking": "reasoning",
}

ROLE_ORDER = ("chat", "code", "reasoning", "vision", "fast", "embedding")
ROLE_LABEL = {
    "chat": "general chat",
    "code": "coder",
    "reasoning": "reasoning",
    "vision": "vision (image input)",
    "fast": "small fast model for quick replies",
    "embedding": "embeddings for search and RAG",
}


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    category: Category
    share: float


@dataclass(slots=True)
class Demand:
    default_mix: bool
    raw_counts: dict[str, int]
    shares: dict[str, float]
    roles: list[Role]
    model_requests: dict[str, int]
    category_requests: dict[str, int]
    uncatalogued: list[str]


def model_key(name: str, catalogue: Catalogue) -> str:
    entry = catalogue.get(name)
    return entry.name if entry is not None else normalize(name)


def demand_of(usage: UsageSummary, catalogue: Catalogue) -> Demand:
    model_requests: dict[str, int] = {}
    uncatalogued: set[str] = set()
    derived: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for name, count in usage.requests_by_model.items():
        if count <= 0 or not name.strip():
            continue
        key = model_key(name, catalogue)
        model_requests[key] = model_requests.get(key, 0) + count
        if catalogue.get(name) is None:
            uncatalogued.add(normalize(name))
        derived[guess_category(name, catalogue)] += count

    given: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for name, count in usage.requests_by_category.items():
        category = CATEGORY_ALIASES.get(name.strip().lower(), name.strip().lower())
        if category in given and count > 0:
            given[category] += count
    raw = given if sum(given.values()) > 0 else derived
    total = sum(raw.values())

    shares: dict[str, float] = {
        c: (raw[c] + PRIOR_REQUESTS * DEFAULT_CATEGORY_SHARES.get(c, 0.0))
        / (total + PRIOR_REQUESTS)
        for c in CATEGORIES
    }
    role_shares: dict[str, tuple[Category, float]] = {
        "chat": ("chat", shares["chat"] * (1 - FAST_SHARE_OF_CHAT)),
        "fast": ("chat", shares["chat"] * FAST_SHARE_OF_CHAT),
        "code": ("code", shares["code"]),
        "reasoning": ("reasoning", shares["reasoning"]),
        "vision": ("vision", shares["vision"]),
        "embedding": ("embedding", shares["embedding"]),
    }
    roles = [
        Role(name, category, share)
        for name, (category, share) in role_shares.items()
        if share >= MIN_ROLE_SHARE
    ]
    roles.sort(key=lambda r: -r.share)
    category_requests: dict[str, int] = {}
    for key, count in model_requests.items():
        category = guess_category(key, catalogue)
        category_requests[category] = category_requests.get(category, 0) + count
    return Demand(
        default_mix=total == 0,
        raw_counts=raw,
        shares=shares,
        roles=roles,
        model_requests=model_requests,
        category_requests=category_requests,
        uncatalogued=sorted(uncatalogued),
    )
