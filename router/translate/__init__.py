"""Format translation between herd's front ends and Ollama's native API; pure, no I/O.

Front ends call these; the pipeline always speaks Ollama's native API upstream. Modules:
``openai_request`` (OpenAI bodies -> /api/chat, /api/generate), ``openai_response`` (Ollama replies
and streams -> OpenAI objects and SSE), ``embeddings`` (all embedding shapes), ``merge`` (stream ->
non-streaming reply), ``router_fields`` (fallback_models and tags), ``errors`` (TranslationError
and every error rendering). Nothing here reads a clock, the network or a database.
"""

from router.translate.embeddings import (
    embeddings_request_to_ollama,
    embeddings_response_to_openai,
    encoding_format,
    pack_float32_base64,
)
from router.translate.errors import (
    TranslationError,
    error_status,
    ollama_error_body,
    ollama_error_line,
    openai_error_body,
    openai_error_event,
    openai_error_type,
)
from router.translate.merge import OllamaStreamMerger, merge_stream
from router.translate.openai_request import (
    chat_messages,
    chat_request_to_ollama,
    completion_request_to_ollama,
    data_url_image,
    include_usage,
    tool_arguments_to_object,
)
from router.translate.openai_response import (
    DONE_EVENT,
    ChatStreamTranslator,
    CompletionStreamTranslator,
    chat_response_to_openai,
    completion_response_to_openai,
    finish_reason,
    model_entry,
    tool_call_to_openai,
    usage,
)
from router.translate.router_fields import TAGS_HEADER, extract_router_fields

__all__ = [
    "DONE_EVENT",
    "TAGS_HEADER",
    "ChatStreamTranslator",
    "CompletionStreamTranslator",
    "OllamaStreamMerger",
    "TranslationError",
    "chat_messages",
    "chat_request_to_ollama",
    "chat_response_to_openai",
    "completion_request_to_ollama",
    "completion_response_to_openai",
    "data_url_image",
    "embeddings_request_to_ollama",
    "embeddings_response_to_openai",
    "encoding_format",
    "error_status",
    "extract_router_fields",
    "finish_reason",
    "include_usage",
    "merge_stream",
    "model_entry",
    "ollama_error_body",
    "ollama_error_line",
    "openai_error_body",
    "openai_error_event",
    "openai_error_type",
    "pack_float32_base64",
    "tool_arguments_to_object",
    "tool_call_to_openai",
    "usage",
]
