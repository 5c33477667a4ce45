"""The curated model catalogue: its facts hold together and lookups normalise names."""

from __future__ import annotations

import pytest

import router.catalogue as catalogue_module
from router.catalogue import (
    CATEGORIES,
    DEFAULT,
    Catalogue,
    CatalogueEntry,
    by_category,
    guess_category,
    lookup,
)

EXPECTED = [
    "llama3.2:1b",
    "llama3.2:3b",
    "llama3.1:8b",
    "llama3.1:70b",
    "llama3.3:70b",
    "qwen2.5:0.5b",
    "qwen2.5:7b",
    "qwen2.5:72b",
    "qwen2.5-coder:1.5b",
    "qwen2.5-coder:7b",
    "qwen2.5-coder:14b",
    "qwen2.5-coder:32b",
    "qwen3:0.6b",
    "qwen3:32b",
    "gemma3:1b",
    "gemma3:4b",
    "gemma3:12b",
    "gemma3:27b",
    "phi4:14b",
    "phi4-mini",
    "mistral:7b",
    "mistral-small:24b",
    "deepseek-r1:1.5b",
    "deepseek-r1:70b",
    "gpt-oss:20b",
    "gpt-oss:120b",
    "llava:7b",
    "llava:13b",
    "llama3.2-vision:11b",
    "nomic-embed-text",
    "mxbai-embed-large",
    "bge-m3",
    "snowflake-arctic-embed",
    "all-minilm",
]


@pytest.mark.parametrize("name", EXPECTED)
def test_well_known_models_are_in_the_catalogue(name: str) -> None:
    assert lookup(name) is not None, name


def test_catalogue_size_is_curated_not_exhaustive() -> None:
    assert 30 <= len(DEFAULT) <= 60


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("llama3.1", "llama3.1:8b"),
        ("llama3.1:latest", "llama3.1:8b"),
        ("  LLAMA3.1:Latest ", "llama3.1:8b"),
        ("llama3.2", "llama3.2:3b"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("qwen2.5-coder", "qwen2.5-coder:7b"),
        ("qwen3", "qwen3:8b"),
        ("gpt-oss", "gpt-oss:20b"),
        ("nomic-embed-text", "nomic-embed-text:v1.5"),
        ("all-minilm:latest", "all-minilm:22m"),
        ("qwen2.5:7b-instruct-q8_0", "qwen2.5:7b"),
        ("registry.ollama.ai/library/qwen3:14b", "qwen3:14b"),
    ],
)
def test_lookup_normalises_names_to_the_default_tag(typed: str, canonical: str) -> None:
    entry = lookup(typed)
    assert entry is not None
    assert entry.name == canonical


@pytest.mark.parametrize(
    "name", ["", "   ", "nope", "llama3.1:405b", "hf.co/someone/model:Q4_K_M", "qwen9:7b"]
)
def test_unknown_names_give_none(name: str) -> None:
    assert lookup(name) is None
    assert name not in DEFAULT


def test_latest_and_explicit_tag_are_the_same_entry() -> None:
    assert lookup("llama3.1") is lookup("llama3.1:8b")
    assert lookup("llama3.3") is lookup("llama3.3:70b")
    assert lookup("gpt-oss:120b") is not lookup("gpt-oss")


def test_every_entry_has_consistent_facts() -> None:
    for e in DEFAULT:
        assert e.category in CATEGORIES, e.name
        assert 0 <= e.quality <= 100, e.name
        assert e.params_b > 0, e.name
        assert e.context_length >= 512, e.name
        assert e.size_gb > 0, e.name
        assert e.family == e.name.split(":", 1)[0], e.name
        sizes = e.sizes_gb
        if {"Q4_K_M", "Q8_0", "F16"} <= sizes.keys():
            assert sizes["Q4_K_M"] < sizes["Q8_0"] < sizes["F16"], e.name
        if e.category == "embedding":
            assert e.kv_gb_per_8k == 0 and e.size_gb < 2, e.name
        else:
            assert e.kv_gb_per_8k > 0, e.name
        if e.active_params_b is not None:
            assert e.active_params_b < e.params_b, e.name


def test_sizes_grow_with_parameters_within_a_family() -> None:
    for family in DEFAULT.families():
        members = sorted((e for e in DEFAULT if e.family == family), key=lambda e: e.params_b)
        sizes = [e.sizes_gb.get("Q4_K_M", e.size_gb) for e in members]
        assert sizes == sorted(sizes), family


def test_known_sizes() -> None:
    assert lookup("llama3.1:8b").size_gb == pytest.approx(4.9)
    assert lookup("llama3.3:70b").size_gb == pytest.approx(43)
    assert lookup("qwen2.5-coder:32b").sizes_gb["Q8_0"] == pytest.approx(35)
    assert lookup("mistral:7b").default_quant == "Q4_0"
    assert lookup("gpt-oss:120b").default_quant == "MXFP4"


def test_every_category_has_small_and_large_choices() -> None:
    for category in CATEGORIES:
        entries = by_category(category)
        assert len(entries) >= 3, category
        assert all(e.category == category for e in entries)
        assert [e.size_gb for e in entries] == sorted(e.size_gb for e in entries)


def test_secondary_categories_are_opt_in() -> None:
    vision_only = {e.name for e in by_category("vision")}
    with_secondary = {e.name for e in by_category("vision", include_secondary=True)}
    assert "gemma3:27b" not in vision_only
    assert "gemma3:27b" in with_secondary
    assert vision_only < with_secondary
    assert lookup("qwen3:8b").serves("reasoning")
    assert not lookup("llama3.1:8b").serves("reasoning")


def test_catalogue_refuses_duplicate_names() -> None:
    entry = lookup("llama3.1:8b")
    assert entry is not None
    with pytest.raises(ValueError, match="duplicate"):
        Catalogue([entry, entry])


def test_catalogue_refuses_a_default_quant_without_size() -> None:
    bad = CatalogueEntry(
        name="x:1b",
        family="x",
        params_b=1,
        sizes=(("Q4_K_M", 0.8),),
        default_quant="F16",
        category="chat",
        context_length=4096,
        quality=10,
    )
    with pytest.raises(ValueError, match="default quant"):
        Catalogue([bad])


def test_a_custom_catalogue_looks_up_its_own_entries() -> None:
    own = Catalogue(e for e in DEFAULT if e.category == "embedding")
    assert own.get("bge-m3") is not None
    assert own.get("llama3.1") is None
    assert len(own) == len(by_category("embedding"))


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("qwen2.5-coder:14b", "code"),
        ("deepseek-r1", "reasoning"),
        ("starcoder2:3b", "code"),
        ("granite-embedding:30m", "embedding"),
        ("qwen2.5-vl:7b", "vision"),
        ("moondream", "vision"),
        ("qwq", "reasoning"),
        ("some-new-model", "chat"),
    ],
)
def test_guess_category(name: str, category: str) -> None:
    assert guess_category(name) == category


def test_docstring_says_quality_is_a_rough_ranking_aid() -> None:
    assert "rough ranking aid" in (catalogue_module.__doc__ or "")
