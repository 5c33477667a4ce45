"""Embedding shapes: /v1/embeddings <-> /api/embed, and /api/embeddings <-> /api/embed."""

from __future__ import annotations

import base64
import struct
from array import array

import pytest

from router.translate import (
    TranslationError,
    embeddings_request_to_ollama,
    embeddings_response_to_openai,
    encoding_format,
    pack_float32_base64,
)

REPLY = {
    "model": "nomic-embed-text:latest",
    "embeddings": [[0.5, -1.25, 2.0], [0.0, 1.0, -0.5]],
    "total_duration": 100,
    "load_duration": 10,
    "prompt_eval_count": 8,
}


def raises(fn, *args, **kwargs) -> TranslationError:
    with pytest.raises(TranslationError) as info:
        fn(*args, **kwargs)
    assert info.value.status == 400
    return info.value


def test_request_string_input():
    body = {"model": "nomic-embed-text", "input": "hello", "user": "u", "encoding_format": "float"}
    assert embeddings_request_to_ollama(body) == {"model": "nomic-embed-text", "input": "hello"}


def test_request_list_input_and_dimensions():
    body = {"model": "m", "input": ["a", "b"], "dimensions": 256}
    assert embeddings_request_to_ollama(body) == {
        "model": "m",
        "input": ["a", "b"],
        "dimensions": 256,
    }


def test_request_ollama_extensions_pass():
    body = {"model": "m", "input": "a", "truncate": False, "keep_alive": 0}
    assert embeddings_request_to_ollama(body) == {
        "model": "m",
        "input": "a",
        "truncate": False,
        "keep_alive": 0,
    }


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2], [3]], ["a", 1]])
def test_request_token_arrays_refused_clearly(value):
    err = raises(embeddings_request_to_ollama, {"model": "m", "input": value})
    assert err.param == "input"
    assert "token" in err.message


@pytest.mark.parametrize("value", [None, [], 5, {"a": 1}])
def test_request_input_validated(value):
    assert raises(embeddings_request_to_ollama, {"model": "m", "input": value}).param == "input"


@pytest.mark.parametrize("dims", [0, -1, 1.5, "256", True])
def test_request_dimensions_validated(dims):
    assert (
        raises(embeddings_request_to_ollama, {"model": "m", "input": "a", "dimensions": dims}).param
        == "dimensions"
    )


def test_request_encoding_format_validated_and_model_required():
    assert (
        raises(
            embeddings_request_to_ollama, {"model": "m", "input": "a", "encoding_format": "hex"}
        ).param
        == "encoding_format"
    )
    assert raises(embeddings_request_to_ollama, {"input": "a"}).param == "model"


def test_encoding_format_default():
    assert encoding_format({}) == "float"
    assert encoding_format({"encoding_format": "base64"}) == "base64"


def test_response_float():
    out = embeddings_response_to_openai(REPLY, model="nomic-embed-text")
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.25, 2.0]},
            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0, -0.5]},
        ],
        "model": "nomic-embed-text",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def test_response_base64_is_little_endian_float32():
    out = embeddings_response_to_openai(REPLY, encoding="base64")
    assert out["model"] == "nomic-embed-text:latest"
    first = out["data"][0]["embedding"]
    assert isinstance(first, str)
    assert base64.b64decode(first) == struct.pack("<3f", 0.5, -1.25, 2.0)
    assert base64.b64decode(out["data"][1]["embedding"]) == struct.pack("<3f", 0.0, 1.0, -0.5)


def test_base64_decodes_as_the_openai_client_does():
    # Without numpy the openai client decodes with array("f") over the base64 bytes.
    packed = pack_float32_base64([0.1, 0.2, -3.5])
    decoded = array("f", base64.b64decode(packed)).tolist()
    assert decoded == pytest.approx([0.1, 0.2, -3.5], rel=1e-6)


def test_response_without_embeddings():
    out = embeddings_response_to_openai({"model": "m"})
    assert out["data"] == [] and out["usage"] == {"prompt_tokens": 0, "total_tokens": 0}
