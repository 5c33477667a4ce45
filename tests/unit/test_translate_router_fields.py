"""Router-only fields: fallback_models and tags, taken out of bodies before forwarding."""

from __future__ import annotations

import copy

import pytest

from router.translate import TranslationError, extract_router_fields
from router.translate.router_fields import MAX_FALLBACK_MODELS, MAX_TAG_LENGTH, MAX_TAGS


def raises(*args) -> TranslationError:
    with pytest.raises(TranslationError) as info:
        extract_router_fields(*args)
    assert info.value.status == 400
    return info.value


def test_nothing_to_extract():
    body = {"model": "m", "messages": []}
    clean, tags, fallbacks = extract_router_fields(body)
    assert clean == body and tags == [] and fallbacks == []


def test_all_sources_combined_and_removed():
    body = {
        "model": "m",
        "prompt": "x",
        "fallback_models": ["qwen3:8b", " llama3 "],
        "metadata": {"tags": ["project:a", "ci"]},
        "user": "alice",
    }
    original = copy.deepcopy(body)
    clean, tags, fallbacks = extract_router_fields(body, "ci, team:ml ,,")
    assert clean == {"model": "m", "prompt": "x"}
    assert tags == ["project:a", "ci", "team:ml", "user:alice"]
    assert fallbacks == ["qwen3:8b", "llama3"]
    assert body == original  # the input is never mutated


def test_other_metadata_kept():
    body = {"model": "m", "metadata": {"tags": ["a"], "trace": "t1"}}
    clean, tags, _ = extract_router_fields(body)
    assert clean == {"model": "m", "metadata": {"trace": "t1"}}
    assert tags == ["a"]
    assert body["metadata"] == {"tags": ["a"], "trace": "t1"}


def test_metadata_without_tags_untouched_and_null_metadata_dropped():
    clean, tags, _ = extract_router_fields({"model": "m", "metadata": {"k": "v"}})
    assert clean == {"model": "m", "metadata": {"k": "v"}} and tags == []
    clean, _, _ = extract_router_fields({"model": "m", "metadata": None})
    assert clean == {"model": "m"}


def test_single_string_tag_accepted():
    _, tags, _ = extract_router_fields({"metadata": {"tags": "solo"}})
    assert tags == ["solo"]


def test_header_only_and_user_only():
    assert extract_router_fields({}, "a,b")[1] == ["a", "b"]
    assert extract_router_fields({"user": "bob"})[1] == ["user:bob"]
    assert extract_router_fields({"user": ""}) == ({}, [], [])
    assert extract_router_fields({"user": None}) == ({}, [], [])


def test_fallback_duplicates_collapsed():
    assert extract_router_fields({"fallback_models": ["a", "a", "b"]})[2] == ["a", "b"]
    assert extract_router_fields({"fallback_models": None}) == ({}, [], [])


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("llama3", "fallback_models"),
        ({"a": 1}, "fallback_models"),
        (["a", 5], "fallback_models[1]"),
        (["a", "  "], "fallback_models[1]"),
    ],
)
def test_fallback_models_validated(value, param):
    err = raises({"fallback_models": value})
    assert err.param == param
    assert "fallback_models" in err.message


def test_too_many_fallbacks():
    names = [f"m{i}" for i in range(MAX_FALLBACK_MODELS + 1)]
    assert raises({"fallback_models": names}).param == "fallback_models"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"metadata": "tags"}, "metadata"),
        ({"metadata": {"tags": {"a": 1}}}, "metadata.tags"),
        ({"metadata": {"tags": ["ok", 3]}}, "metadata.tags[1]"),
        ({"user": 42}, "user"),
    ],
)
def test_tag_sources_validated(body, param):
    assert raises(body).param == param


def test_tag_limits():
    assert raises({"metadata": {"tags": ["x" * (MAX_TAG_LENGTH + 1)]}}).param == "metadata.tags[0]"
    many = ",".join(f"t{i}" for i in range(MAX_TAGS + 1))
    assert raises({}, many).param == "X-Herd-Tags"
    exactly = ",".join(f"t{i}" for i in range(MAX_TAGS))
    assert len(extract_router_fields({}, exactly)[1]) == MAX_TAGS
