"""Pessimistic model sizes: never below the real weights, and an unknown size is never small."""

from __future__ import annotations

import pytest

from router import model_size as ms

GB = 1e9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8B", 8e9),
        ("70.6B", 70.6e9),
        ("137M", 137e6),
        ("8x7B", 56e9),
        ("1.5t", 1.5e12),
        (" 3b ", 3e9),
        ("", None),
        ("large", None),
        ("0B", None),
    ],
)
def test_parse_parameter_count(text: str, expected: float | None) -> None:
    assert ms.parse_parameter_count(text) == expected


@pytest.mark.parametrize(
    ("quant", "real_bits"),
    [
        ("Q4_0", 4.5),
        ("Q4_K_M", 4.85),
        ("Q5_K_M", 5.7),
        ("Q6_K", 6.56),
        ("Q8_0", 8.5),
        ("F16", 16),
        ("FP16", 16),
        ("BF16", 16),
        ("F32", 32),
        ("MXFP4", 4.25),
        ("q4_k_m", 4.85),
    ],
)
def test_bits_per_weight_is_rounded_up(quant: str, real_bits: float) -> None:
    # Whole bits at or above the format's real average: rounding down would fit models that don't.
    bits = ms.bits_per_weight(quant)
    assert bits >= real_bits
    assert bits == int(bits)


def test_unknown_quantization_counts_as_unquantised() -> None:
    assert ms.bits_per_weight("SOMETHING_NEW") == 16
    # An unknown variant of a known family keeps its family's width plus margin.
    assert ms.bits_per_weight("Q4_K_XL") >= 5


def test_empty_quantization_is_the_library_default() -> None:
    assert ms.bits_per_weight("") == ms.bits_per_weight("Q4_K_M")


@pytest.mark.parametrize(
    ("size", "quant", "params", "real_bits"),
    [
        ("8B", "Q4_K_M", 8e9, 4.85),
        ("70.6B", "Q4_K_M", 70.6e9, 4.85),
        ("137M", "F16", 137e6, 16),
        ("8x7B", "Q4_0", 56e9, 4.5),
        ("32B", "Q8_0", 32e9, 8.5),
        ("20B", "MXFP4", 20e9, 4.25),
    ],
)
def test_estimate_exceeds_the_real_weights(size: str, quant: str, params: float, real_bits: float):
    # The estimate covers the weights at their real width plus KV cache and runtime overhead.
    estimate = ms.estimate_bytes(size, quant)
    weights = params * real_bits / 8
    assert estimate > weights + ms.RUNTIME_OVERHEAD_BYTES


def test_unknown_size_is_never_guessed_small() -> None:
    assert ms.estimate_bytes("", "Q4_K_M") == ms.UNKNOWN_MODEL_BYTES
    assert ms.estimate_from_name("llama3:latest") == ms.UNKNOWN_MODEL_BYTES
    assert ms.estimate_from_name("nomic-embed-text") == ms.UNKNOWN_MODEL_BYTES
    assert ms.estimate_from_file(0) == ms.UNKNOWN_MODEL_BYTES
    assert ms.estimate("mystery:latest") == ms.UNKNOWN_MODEL_BYTES
    # "Large" means a 70B-class model at the default quantization.
    assert ms.UNKNOWN_MODEL_BYTES >= 40 * GB


def test_name_alone_reads_size_and_default_quant() -> None:
    # llama3.1:70b names 70B and no quantization: the library default Q4_K_M.
    assert ms.estimate_from_name("llama3.1:70b") == ms.estimate_bytes("70B", "Q4_K_M")
    assert ms.estimate_from_name("llama3.1:70b") > 70e9 * 4.85 / 8


@pytest.mark.parametrize(
    ("name", "params", "quant"),
    [
        ("llama3.1:70b", 70e9, ""),
        ("mixtral:8x7b", 56e9, ""),
        ("qwen3:30b-a3b", 30e9, ""),  # a3b is the active subset, memory holds all 30B
        ("llama3.1:8b-instruct-q8_0", 8e9, "Q8_0"),
        ("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M", 3e9, "Q4_K_M"),
        ("qwen2.5:0.5b", 0.5e9, ""),
        ("gemma3:27b-it-fp16", 27e9, "FP16"),
    ],
)
def test_name_parsing(name: str, params: float, quant: str) -> None:
    assert ms.parameters_from_name(name) == params
    assert ms.quantization_from_name(name) == quant


def test_effective_parameter_names_are_scaled_up() -> None:
    # gemma3n:e2b holds ~5B weights although it names 2B "effective" parameters.
    assert ms.parameters_from_name("gemma3n:e2b") > 2e9


def test_quantization_in_the_tag_widens_the_estimate() -> None:
    assert (
        ms.estimate_from_name("llama3.1:8b-instruct-fp16")
        > ms.estimate_from_name("llama3.1:8b-instruct-q8_0")
        > ms.estimate_from_name("llama3.1:8b")
    )


def test_file_size_estimate_adds_overhead() -> None:
    file_bytes = 4_900_000_000
    assert ms.estimate_from_file(file_bytes) > file_bytes + ms.RUNTIME_OVERHEAD_BYTES


def test_kv_cache_grows_with_context_and_parallel() -> None:
    base = ms.estimate_bytes("8B", "Q4_K_M", context_tokens=4096)
    assert ms.estimate_bytes("8B", "Q4_K_M", context_tokens=32768) > base
    assert ms.estimate_bytes("8B", "Q4_K_M", parallel=4) > base
    # Real llama3 8B F16 KV is 128 KiB per token: the estimate stays above it.
    assert ms.kv_cache_bytes(8e9, 1) >= 128 * 1024


def test_estimate_takes_the_largest_source() -> None:
    # A misleading small file size cannot shrink the estimate below what the details say.
    from_details = ms.estimate_bytes("70B", "Q4_K_M")
    combined = ms.estimate(
        "llama3.1:70b", parameter_size="70B", quantization_level="Q4_K_M", file_bytes=1_000
    )
    assert combined >= from_details
    # And a name that says nothing does not lower a known file size.
    assert ms.estimate("custom:latest", file_bytes=10_000_000_000) == ms.estimate_from_file(
        10_000_000_000
    )


@pytest.mark.parametrize(
    ("name", "family", "category"),
    [
        ("nomic-embed-text:latest", "nomic-bert", "embedding"),
        ("mxbai-embed-large:latest", "bert", "embedding"),
        ("all-minilm:latest", "", "embedding"),
        ("llava:13b", "llama", "vision"),
        ("llama3.2-vision:11b", "mllama", "vision"),
        ("qwen2.5vl:7b", "qwen25vl", "vision"),
        ("qwen2.5-coder:32b", "qwen2", "code"),
        ("codellama:7b", "llama", "code"),
        ("deepseek-r1:70b", "llama", "reasoning"),
        ("qwq:32b", "qwen2", "reasoning"),
        ("llama3.1:8b", "llama", "chat"),
        ("something-new:latest", "", "chat"),
    ],
)
def test_category_of(name: str, family: str, category: str) -> None:
    assert ms.category_of(name, family) == category
