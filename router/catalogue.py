"""The curated model catalogue: facts about well-known Ollama models, as data, and lookups over it.

Owns one ``CatalogueEntry`` per model tag herd knows how to recommend (family, parameter count,
sizes at common quantizations, category, context length, a rough KV-cache figure and a quality
figure) and the lookups by name and by category. It never does I/O and never decides anything:
choosing a mix for a node is ``router.recommendations``' job.

Where the figures come from:

- Sizes are the download sizes Ollama's library lists for each tag (GB, 10^9 bytes), rounded; the
  default tag's quantization is ``default_quant`` (``Q4_K_M`` for most, ``Q8_0`` for
  ``llama3.2:1b``, ``Q4_0`` for ``mistral:7b``, ``MXFP4`` for ``gpt-oss``, ``F16`` for embeddings).
- ``kv_gb_per_8k`` is the F16 KV cache for one sequence of 8,192 tokens, worked out from the
  published architecture (2 x layers x KV heads x head size x 2 bytes per token; sliding-window
  layers counted at their window). It is an estimate for planning memory, not a measurement.
- ``quality`` (0-100) is a **rough ranking aid**, our own estimate distilled from public benchmarks
  (MMLU-style knowledge tests, coding benchmarks such as HumanEval for coders, MTEB retrieval for
  embedding models) and community leaderboards. It only orders models within a category well enough
  to pick "the best that fits"; it is not a score to quote and it ages as new models appear.
  Figures of different categories are not comparable with each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from herd_contract.model_names import normalize

Category = Literal["chat", "code", "reasoning", "vision", "embedding"]
CATEGORIES: tuple[Category, ...] = get_args(Category)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """Facts about one model tag (the canonical ``family:tag`` name Ollama's library uses)."""

    name: str
    family: str
    params_b: float
    """Total parameters, billions."""
    sizes: tuple[tuple[str, float], ...]
    """(quantization, GB) pairs, e.g. ``(("Q4_K_M", 4.9), ("Q8_0", 8.5), ("F16", 16.0))``."""
    default_quant: str
    """The quantization the plain tag pulls."""
    category: Category
    context_length: int
    """Longest context the model supports, tokens."""
    quality: int
    """0-100 within its category; a rough ranking aid (see the module docstring)."""
    kv_gb_per_8k: float = 0.0
    also_serves: tuple[Category, ...] = ()
    """Other categories the model handles well (a thinking mode, image input)."""
    aliases: tuple[str, ...] = ()
    """Other full names that pull the same weights, e.g. ``llama3.1:latest``."""
    active_params_b: float | None = None
    """Parameters used per token for mixture-of-experts models (decode speed depends on it)."""

    @property
    def size_gb(self) -> float:
        """Download (and weights-in-memory) size of the default tag, GB."""
        return self.sizes_gb[self.default_quant]

    @property
    def sizes_gb(self) -> dict[str, float]:
        return dict(self.sizes)

    @property
    def active_b(self) -> float:
        return self.active_params_b if self.active_params_b is not None else self.params_b

    def serves(self, category: str) -> bool:
        return self.category == category or category in self.also_serves


class Catalogue:
    """An immutable set of entries, looked up by (normalised) name or by category."""

    def __init__(self, entries: Iterable[CatalogueEntry]) -> None:
        self._entries: tuple[CatalogueEntry, ...] = tuple(entries)
        self._by_name: dict[str, CatalogueEntry] = {}
        for entry in self._entries:
            if entry.category not in CATEGORIES:
                raise ValueError(f"{entry.name}: unknown category {entry.category!r}")
            if entry.default_quant not in entry.sizes_gb:
                raise ValueError(f"{entry.name}: no size for default quant {entry.default_quant}")
            for key in (entry.name, *entry.aliases):
                full = normalize(key)
                if full in self._by_name:
                    raise ValueError(f"duplicate catalogue name {full!r}")
                self._by_name[full] = entry

    def __iter__(self) -> Iterator[CatalogueEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get(self, name: str) -> CatalogueEntry | None:
        """The entry for ``name``, or ``None`` when the catalogue does not know it.

        Names are normalised first (``llama3.1`` is ``llama3.1:latest``, which is the 8b tag). A
        ``registry.ollama.ai/library/`` prefix is ignored, and a tag with a variant suffix
        (``qwen2.5:7b-instruct-q8_0``) falls back to its base tag: the entry then describes the
        default quantization, so a caller that knows the real size should prefer it.
        """
        full = normalize(name)
        if not full:
            return None
        for prefix in ("registry.ollama.ai/library/", "library/"):
            if full.startswith(prefix):
                full = full[len(prefix) :]
        found = self._by_name.get(full)
        if found is not None:
            return found
        stem, _, tag = full.rpartition(":")
        if "-" in tag:
            return self._by_name.get(f"{stem}:{tag.split('-', 1)[0]}")
        return None

    def by_category(
        self, category: str, *, include_secondary: bool = False
    ) -> list[CatalogueEntry]:
        """Entries of ``category``, smallest first; with ``include_secondary`` also those that
        list it in ``also_serves``."""
        found = [
            e
            for e in self._entries
            if e.category == category or (include_secondary and category in e.also_serves)
        ]
        return sorted(found, key=lambda e: (e.size_gb, e.name))

    def families(self) -> list[str]:
        return sorted({e.family for e in self._entries})


def _entry(
    name: str,
    params_b: float,
    sizes: tuple[tuple[str, float], ...],
    default_quant: str,
    category: Category,
    context_length: int,
    quality: int,
    kv_gb_per_8k: float = 0.0,
    *,
    latest: bool,
    also_serves: tuple[Category, ...] = (),
    active_params_b: float | None = None,
) -> CatalogueEntry:
    """An entry of family ``name``'s stem; ``latest``: ``family:latest`` pulls the same weights."""
    family = name.split(":", 1)[0]
    return CatalogueEntry(
        name=name,
        family=family,
        params_b=params_b,
        sizes=sizes,
        default_quant=default_quant,
        category=category,
        context_length=context_length,
        quality=quality,
        kv_gb_per_8k=kv_gb_per_8k,
        also_serves=also_serves,
        aliases=(f"{family}:latest",) if latest else (),
        active_params_b=active_params_b,
    )


def _llm(
    name: str,
    params_b: float,
    q4: float,
    q8: float,
    f16: float,
    *facts: Any,
    default_quant: str = "Q4_K_M",
    extra_sizes: tuple[tuple[str, float], ...] = (),
    latest: bool = False,
    **more: Any,
) -> CatalogueEntry:
    """A model Ollama ships at Q4_K_M, Q8_0 and F16 (plus ``extra_sizes``); ``facts`` and
    ``more`` are ``_entry``'s category, context length, quality, KV figure and options."""
    sizes = (("Q4_K_M", q4), ("Q8_0", q8), ("F16", f16), *extra_sizes)
    return _entry(name, params_b, sizes, default_quant, *facts, latest=latest, **more)


def _single(
    name: str,
    params_b: float,
    quant: str,
    size: float,
    *facts: Any,
    latest: bool = True,
    **more: Any,
) -> CatalogueEntry:
    """A model Ollama ships at one quantization only (embeddings in F16, gpt-oss in MXFP4)."""
    return _entry(name, params_b, ((quant, size),), quant, *facts, latest=latest, **more)


_K128 = 131_072
_K32 = 32_768
_THINK: tuple[Category, ...] = ("reasoning",)
_SEES: tuple[Category, ...] = ("vision",)

# fmt: off
_ENTRIES: tuple[CatalogueEntry, ...] = (
    # name                     params  Q4_K_M  Q8_0   F16    category     context  qual  kv/8k
    _llm("llama3.2:1b",          1.2,   0.81,  1.3,   2.5,  "chat",      _K128,    30, 0.25,
         default_quant="Q8_0"),
    _llm("llama3.2:3b",          3.2,   2.0,   3.4,   6.4,  "chat",      _K128,    42, 0.88,
         latest=True),
    _llm("llama3.1:8b",          8.0,   4.9,   8.5,  16.0,  "chat",      _K128,    52, 1.0,
         latest=True),
    _llm("llama3.1:70b",        70.6,  43.0,  75.0, 141.0,  "chat",      _K128,    72, 2.5),
    _llm("llama3.3:70b",        70.6,  43.0,  75.0, 141.0,  "chat",      _K128,    76, 2.5,
         latest=True),
    _llm("qwen2.5:0.5b",         0.49,  0.40,  0.53,  0.99, "chat",      _K32,     22, 0.09),
    _llm("qwen2.5:1.5b",         1.5,   0.99,  1.6,   3.1,  "chat",      _K32,     35, 0.22),
    _llm("qwen2.5:3b",           3.1,   1.9,   3.3,   6.2,  "chat",      _K32,     44, 0.28),
    _llm("qwen2.5:7b",           7.6,   4.7,   8.1,  15.0,  "chat",      _K32,     56, 0.44,
         latest=True),
    _llm("qwen2.5:14b",         14.8,   9.0,  16.0,  30.0,  "chat",      _K32,     64, 1.5),
    _llm("qwen2.5:32b",         32.8,  20.0,  35.0,  66.0,  "chat",      _K32,     71, 2.0),
    _llm("qwen2.5:72b",         72.7,  47.0,  77.0, 145.0,  "chat",      _K32,     77, 2.5),
    _llm("qwen2.5-coder:1.5b",   1.5,   0.99,  1.6,   3.1,  "code",      _K32,     38, 0.22),
    _llm("qwen2.5-coder:7b",     7.6,   4.7,   8.1,  15.0,  "code",      _K32,     60, 0.44,
         latest=True),
    _llm("qwen2.5-coder:14b",   14.8,   9.0,  16.0,  30.0,  "code",      _K32,     68, 1.5),
    _llm("qwen2.5-coder:32b",   32.8,  20.0,  35.0,  66.0,  "code",      _K32,     76, 2.0),
    _llm("qwen3:0.6b",           0.6,   0.52,  0.81,  1.5,  "chat",      40_960,   28, 0.88,
         also_serves=_THINK),
    _llm("qwen3:1.7b",           1.7,   1.4,   2.2,   4.1,  "chat",      40_960,   40, 0.88,
         also_serves=_THINK),
    _llm("qwen3:4b",             4.0,   2.5,   4.4,   8.1,  "chat",      40_960,   52, 1.13,
         also_serves=_THINK),
    _llm("qwen3:8b",             8.2,   5.2,   8.9,  16.0,  "chat",      40_960,   60, 1.13,
         also_serves=_THINK, latest=True),
    _llm("qwen3:14b",           14.8,   9.3,  16.0,  30.0,  "chat",      40_960,   67, 1.25,
         also_serves=_THINK),
    _llm("qwen3:30b",           30.5,  19.0,  32.0,  61.0,  "chat",      40_960,   72, 0.75,
         also_serves=_THINK, active_params_b=3.3),
    _llm("qwen3:32b",           32.8,  20.0,  35.0,  66.0,  "chat",      40_960,   74, 2.0,
         also_serves=_THINK),
    _llm("gemma3:1b",            1.0,   0.82,  1.1,   2.0,  "chat",      _K32,     30, 0.2),
    _llm("gemma3:4b",            4.3,   3.3,   5.0,   8.6,  "chat",      _K128,    50, 1.0,
         also_serves=_SEES, latest=True),
    _llm("gemma3:12b",          12.2,   8.1,  13.0,  24.0,  "chat",      _K128,    63, 0.6,
         also_serves=_SEES),
    _llm("gemma3:27b",          27.4,  17.0,  29.0,  55.0,  "chat",      _K128,    71, 0.8,
         also_serves=_SEES),
    _llm("phi4:14b",            14.7,   9.1,  16.0,  29.0,  "chat",      16_384,   65, 1.56,
         latest=True),
    _llm("phi4-mini:3.8b",       3.8,   2.5,   4.1,   7.7,  "chat",      _K128,    46, 1.0,
         latest=True),
    _llm("mistral:7b",           7.2,   4.4,   7.7,  14.0,  "chat",      _K32,     45, 1.0,
         default_quant="Q4_0", extra_sizes=(("Q4_0", 4.1),), latest=True),
    _llm("mistral-small:24b",   23.6,  14.0,  25.0,  47.0,  "chat",      _K32,     68, 1.25,
         latest=True),
    _llm("deepseek-r1:1.5b",     1.8,   1.1,   1.9,   3.6,  "reasoning", _K128,    30, 0.22),
    _llm("deepseek-r1:7b",       7.6,   4.7,   8.1,  15.0,  "reasoning", _K128,    50, 0.44),
    _llm("deepseek-r1:8b",       8.2,   5.2,   8.9,  16.0,  "reasoning", _K128,    58, 1.13,
         latest=True),
    _llm("deepseek-r1:14b",     14.8,   9.0,  16.0,  30.0,  "reasoning", _K128,    64, 1.5),
    _llm("deepseek-r1:32b",     32.8,  20.0,  35.0,  66.0,  "reasoning", _K128,    72, 2.0),
    _llm("deepseek-r1:70b",     70.6,  43.0,  75.0, 141.0,  "reasoning", _K128,    74, 2.5),
    _llm("llava:7b",             7.2,   4.7,   7.7,  14.0,  "vision",    _K32,     40, 4.0,
         latest=True),
    _llm("llava:13b",           13.4,   8.0,  14.0,  26.0,  "vision",    4_096,    46, 6.25),
    _llm("llama3.2-vision:11b", 10.7,   7.8,  12.0,  21.0,  "vision",    _K128,    58, 1.25,
         latest=True),
    # Shipped at one quantization only.
    _single("gpt-oss:20b",      20.9, "MXFP4", 14.0,  "chat",      _K128,    72, 0.2,
            also_serves=_THINK, active_params_b=3.6),
    _single("gpt-oss:120b",    116.8, "MXFP4", 65.0,  "chat",      _K128,    82, 0.3,
            also_serves=_THINK, latest=False, active_params_b=5.1),
    _single("nomic-embed-text:v1.5",      0.137, "F16", 0.27,  "embedding", 2_048, 60),
    _single("mxbai-embed-large:335m",     0.335, "F16", 0.67,  "embedding",   512, 64),
    _single("bge-m3:567m",                0.567, "F16", 1.2,   "embedding", 8_192, 68),
    _single("snowflake-arctic-embed:335m", 0.335, "F16", 0.67, "embedding",   512, 62),
    _single("all-minilm:22m",             0.023, "F16", 0.046, "embedding",   512, 45),
)
# fmt: on

DEFAULT = Catalogue(_ENTRIES)
"""The catalogue herd ships with."""


def lookup(name: str) -> CatalogueEntry | None:
    """``DEFAULT.get(name)``: the entry for a model name, ``None`` when unknown."""
    return DEFAULT.get(name)


def by_category(category: str, *, include_secondary: bool = False) -> list[CatalogueEntry]:
    """``DEFAULT.by_category(...)``: entries of a category, smallest first."""
    return DEFAULT.by_category(category, include_secondary=include_secondary)


def guess_category(name: str, catalogue: Catalogue = DEFAULT) -> Category:
    """The category of any model name: the catalogue's when known, else a guess from the name."""
    entry = catalogue.get(name)
    if entry is not None:
        return entry.category
    stem = name.lower()
    if "embed" in stem or "minilm" in stem or stem.startswith("bge"):
        return "embedding"
    if "coder" in stem or "code" in stem or "starcoder" in stem:
        return "code"
    if "vision" in stem or "llava" in stem or "-vl" in stem or "moondream" in stem:
        return "vision"
    if "-r1" in stem or "qwq" in stem or "reason" in stem:
        return "reasoning"
    return "chat"
