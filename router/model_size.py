"""Model sizes: pessimistic estimates of the memory a model needs once loaded, and its category.

Owns the arithmetic that turns Ollama's ``details.parameter_size`` ("8B", "70.6B", "137M", "8x7B")
and ``details.quantization_level`` ("Q4_K_M", "Q8_0", "F16", "MXFP4", ...) into bytes, the fallback
that reads the same facts from a model's name (``llama3.1:70b`` -> 70B at Q4_K_M), and
``category_of`` (chat / code / embedding / vision / reasoning), used to keep VRAM fallback within a
category.

Every estimate errs on the large side, on purpose: guessing a model small sends it to a node that
cannot hold it, where it swaps or fails; guessing it large only costs a less-than-ideal placement.
An unknown size is never guessed small: it is ``UNKNOWN_MODEL_BYTES``.

Pure: no I/O, no clock, no state. Never guesses a size from anything but the arguments.
"""

from __future__ import annotations

import math
import re
from typing import Literal

Category = Literal["chat", "code", "embedding", "vision", "reasoning"]

GIB = 1024**3

DEFAULT_CONTEXT_TOKENS = 4096
"""Ollama's default context window when neither a request nor ``OLLAMA_CONTEXT_LENGTH`` sets one."""

UNKNOWN_MODEL_BYTES = 48 * GIB
"""Memory assumed for a model whose size cannot be read from anything: a 70B-class model."""

UNKNOWN_QUANT_BITS = 16
"""Bits per weight for a quantization label we do not recognise: assume unquantised F16/BF16."""

DEFAULT_QUANT = "Q4_K_M"
"""What an Ollama library tag such as ``llama3.1:70b`` ships when it names no quantization."""

RUNTIME_OVERHEAD_BYTES = GIB // 2
"""Fixed cost of a loaded runner (compute graph, buffers) on top of weights and KV cache."""

WEIGHT_OVERHEAD_FRACTION = 0.10
"""Extra memory proportional to the weights (scratch buffers, non-quantised tensors, alignment)."""

KV_BYTES_PER_TOKEN_PER_SQRT_BILLION = 48 * 1024
"""KV cache per context token, scaled by the square root of the parameter count in billions.

Calibrated above real F16 caches of grouped-query models (llama3 8B: 128 KiB/token, here 136 KiB;
70B: 320 KiB/token, here 402 KiB)."""

ASSUMED_FILE_BITS = 4.5
"""When only a file size is known, the parameter count is read back assuming ~4.5 bits per weight.

That overestimates the parameters of any wider quantization: the KV estimate stays pessimistic."""

# Bits per weight, already rounded up from the real averages (Q4_K_M is ~4.85, Q8_0 is 8.5...).
_QUANT_BITS: dict[str, int] = {
    "F32": 32,
    "FP32": 32,
    "F16": 16,
    "FP16": 16,
    "BF16": 16,
    "Q8_0": 9,
    "Q8_K": 9,
    "Q8": 9,
    "FP8": 8,
    "Q6_K": 7,
    "Q6": 7,
    "Q5_0": 6,
    "Q5_1": 6,
    "Q5_K": 6,
    "Q5_K_S": 6,
    "Q5_K_M": 6,
    "Q4_0": 5,
    "Q4_1": 5,
    "Q4_K": 5,
    "Q4_K_S": 5,
    "Q4_K_M": 5,
    "MXFP4": 5,
    "IQ4_XS": 5,
    "IQ4_NL": 5,
    "Q3_K_S": 4,
    "Q3_K_M": 4,
    "Q3_K_L": 5,
    "IQ3_XXS": 4,
    "IQ3_XS": 4,
    "IQ3_S": 4,
    "IQ3_M": 4,
    "Q2_K": 4,
    "Q2_K_S": 3,
    "IQ2_XXS": 3,
    "IQ2_XS": 3,
    "IQ2_S": 3,
    "IQ2_M": 3,
    "IQ1_S": 2,
    "IQ1_M": 2,
}

_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_SIZE_RE = re.compile(r"^(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?)\s*([kmbt])$")
_EFFECTIVE_RE = re.compile(r"^e(\d+(?:\.\d+)?)b$")
EFFECTIVE_PARAMS_FACTOR = 2.5
"""``gemma3n:e2b`` names its *effective* parameters; the weights held in memory are ~2.5x more."""
_TOKEN_SPLIT = re.compile(r"[:/_\-\s]+")
_QUANT_IN_NAME = re.compile(
    r"(?<![a-z0-9])(i?q\d(?:_[a-z0-9]+)*|mxfp4|fp16|bf16|fp32|f16|f32|fp8)(?![a-z0-9])"
)


def parse_parameter_count(text: str) -> float | None:
    """Parameters named by ``text``: ``"8B"`` -> 8e9, ``"8x7B"`` -> 56e9, ``"137M"`` -> 1.37e8.

    Returns ``None`` when ``text`` names no size (empty, or not of that shape).
    """
    cleaned = text.strip().lower()
    match = _SIZE_RE.match(cleaned)
    if match is None:
        effective = _EFFECTIVE_RE.match(cleaned)
        if effective is None:
            return None
        return float(effective.group(1)) * 1e9 * EFFECTIVE_PARAMS_FACTOR
    experts, number, suffix = match.groups()
    count = float(number) * _SUFFIX[suffix]
    if experts:
        count *= int(experts)
    return count if count > 0 else None


def bits_per_weight(quantization: str) -> int:
    """Whole bits per weight for a quantization label, rounded up; unknown labels count as 16.

    An empty label means the Ollama library default, ``Q4_K_M``.
    """
    label = quantization.strip().upper().replace("-", "_")
    if not label:
        return _QUANT_BITS[DEFAULT_QUANT]
    if label in _QUANT_BITS:
        return _QUANT_BITS[label]
    # A label with an unknown suffix (Q4_K_XL, Q5_K_XL...) keeps its family's width plus one bit.
    head = re.match(r"^(I?Q)(\d)", label)
    if head is not None:
        return int(head.group(2)) + 2
    return UNKNOWN_QUANT_BITS


def kv_cache_bytes(parameters: float, context_tokens: int, parallel: int = 1) -> int:
    """A pessimistic F16 KV cache for ``parallel`` slots of ``context_tokens`` each."""
    billions = max(parameters / 1e9, 0.1)
    per_token = KV_BYTES_PER_TOKEN_PER_SQRT_BILLION * math.sqrt(billions)
    return int(per_token * max(context_tokens, 0) * max(parallel, 1))


def estimate_bytes(
    parameter_size: str,
    quantization_level: str = "",
    *,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    parallel: int = 1,
) -> int:
    """Memory a loaded model needs, from Ollama's ``details``: weights + KV cache + runtime.

    An unreadable ``parameter_size`` gives ``UNKNOWN_MODEL_BYTES``, never a small number.
    """
    parameters = parse_parameter_count(parameter_size)
    if parameters is None:
        return UNKNOWN_MODEL_BYTES
    return _need(parameters, bits_per_weight(quantization_level), context_tokens, parallel)


def _need(parameters: float, bits: int, context_tokens: int, parallel: int) -> int:
    weights = parameters * bits / 8
    overhead = weights * WEIGHT_OVERHEAD_FRACTION + RUNTIME_OVERHEAD_BYTES
    return math.ceil(weights + overhead) + kv_cache_bytes(parameters, context_tokens, parallel)


def estimate_from_file(
    file_bytes: int, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS, parallel: int = 1
) -> int:
    """Memory a loaded model needs when its file size on disk (``/api/tags`` ``size``) is known.

    The file holds the weights exactly; KV cache and runtime overhead are added pessimistically.
    A zero or negative size means unknown: ``UNKNOWN_MODEL_BYTES``.
    """
    if file_bytes <= 0:
        return UNKNOWN_MODEL_BYTES
    parameters = file_bytes * 8 / ASSUMED_FILE_BITS
    overhead = file_bytes * WEIGHT_OVERHEAD_FRACTION + RUNTIME_OVERHEAD_BYTES
    return math.ceil(file_bytes + overhead) + kv_cache_bytes(parameters, context_tokens, parallel)


def parameters_from_name(name: str) -> float | None:
    """The largest parameter count named anywhere in a model name (tag or base), or ``None``.

    ``llama3.1:70b`` -> 70e9; ``qwen3:30b-a3b`` -> 30e9 (``a3b`` is the active subset);
    ``hf.co/x/Llama-3.2-3B-Instruct-GGUF:Q4_K_M`` -> 3e9; ``llama3:latest`` -> ``None``.
    """
    best: float | None = None
    for token in _TOKEN_SPLIT.split(name.strip().lower()):
        count = parse_parameter_count(token)
        if count is not None and (best is None or count > best):
            best = count
    return best


def quantization_from_name(name: str) -> str:
    """The quantization a tag names (``8b-instruct-q8_0`` -> ``Q8_0``), else ``""`` (default)."""
    tag = name.strip().lower().rsplit("/", 1)[-1]
    found = _QUANT_IN_NAME.findall(tag)
    return found[-1].upper() if found else ""


def estimate_from_name(
    name: str, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS, parallel: int = 1
) -> int:
    """Memory a model needs judged from its name alone; ``UNKNOWN_MODEL_BYTES`` if it names no size.

    A tag without a quantization is taken as the library default ``Q4_K_M``.
    """
    parameters = parameters_from_name(name)
    if parameters is None:
        return UNKNOWN_MODEL_BYTES
    bits = bits_per_weight(quantization_from_name(name))
    return _need(parameters, bits, context_tokens, parallel)


def estimate(
    name: str,
    *,
    parameter_size: str = "",
    quantization_level: str = "",
    file_bytes: int = 0,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    parallel: int = 1,
) -> int:
    """The best pessimistic estimate from whatever is known, largest of the readable sources.

    Sources: the file size, the ``details`` (parameter size, quantization) and the name. Taking the
    largest means a misleading source can only make the estimate bigger, never smaller. When no
    source says anything the result is ``UNKNOWN_MODEL_BYTES``.
    """
    found: list[int] = []
    if file_bytes > 0:
        found.append(
            estimate_from_file(file_bytes, context_tokens=context_tokens, parallel=parallel)
        )
    parameters = parse_parameter_count(parameter_size) if parameter_size else None
    if parameters is not None:
        quant = quantization_level or quantization_from_name(name)
        found.append(_need(parameters, bits_per_weight(quant), context_tokens, parallel))
    if parameters_from_name(name) is not None:
        found.append(estimate_from_name(name, context_tokens=context_tokens, parallel=parallel))
    return max(found) if found else UNKNOWN_MODEL_BYTES


# --- categories ----------------------------------------------------------------------------------

_EMBEDDING_FAMILIES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "xlm-roberta", "jina-bert"}
)
_VISION_FAMILIES = frozenset({"clip", "mllama", "llava", "qwen2vl", "qwen25vl", "mtmd"})
_EMBEDDING_HINTS = ("embed", "minilm", "bge-", "-e5", "gte-", "arctic-embed", "paraphrase")
_VISION_HINTS = (
    "vision",
    "llava",
    "-vl",
    "vl:",
    "moondream",
    "minicpm-v",
    "bakllava",
    "granite3.2-vision",
    "ocr",
    "gemma3:4b",
    "gemma3:12b",
    "gemma3:27b",
    "gemma3:latest",
    "llama4",
    "mistral-small3.1",
)
_REASONING_HINTS = (
    "deepseek-r1",
    "qwq",
    "-r1",
    "magistral",
    "reasoning",
    "openthinker",
    "gpt-oss",
    "marco-o1",
    "exaone-deep",
    "phi4-mini-reasoning",
    "thinking",
    "qwen3:",
    "qwen3-",
)
_CODE_HINTS = ("code", "coder", "starcoder", "codestral", "devstral", "sqlcoder", "wizardcoder")


def category_of(name: str, details_family: str = "") -> Category:
    """What kind of work a model does: ``embedding``, ``vision``, ``code``, ``reasoning``, ``chat``.

    Read from the model name and Ollama's ``details.family``; checked in that order because an
    embedding model can never stand in for a chat model (or the reverse), whereas a code or
    reasoning model is still a chat model. Anything unrecognised is ``chat``.
    """
    lowered = name.strip().lower()
    family = details_family.strip().lower()
    if family in _EMBEDDING_FAMILIES or any(hint in lowered for hint in _EMBEDDING_HINTS):
        return "embedding"
    if family in _VISION_FAMILIES or any(hint in lowered for hint in _VISION_HINTS):
        return "vision"
    if any(hint in lowered for hint in _CODE_HINTS):
        return "code"
    if any(hint in lowered for hint in _REASONING_HINTS):
        return "reasoning"
    return "chat"
