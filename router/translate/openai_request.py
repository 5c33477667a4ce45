"""OpenAI request bodies -> Ollama native request bodies.

Owns the mapping of ``/v1/chat/completions`` to ``/api/chat`` and ``/v1/completions`` to
``/api/generate`` (embeddings live in ``embeddings.py``). The Ollama body is built from scratch, so
nothing OpenAI-only (``user``, ``n``, ``logit_bias``...) is ever forwarded. Pure: never fetches an
image URL (server-side request forgery), never reads a clock, never does I/O.

Decisions worth knowing:
- ``tool_choice``: Ollama has none. ``"none"`` drops the tools; a named function keeps only that
  tool; ``"auto"`` and ``"required"`` keep every tool (``required`` cannot be enforced upstream).
- ``stream`` is always set explicitly: OpenAI defaults to not streaming, Ollama to streaming.
- Text content parts are joined with a newline; ``image_url`` parts must be base64 ``data:`` URLs.
- Ollama extensions accepted in an OpenAI body: ``options`` (merged under the mapped fields),
  ``keep_alive`` and ``think`` (overridden by ``reasoning_effort``).
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from router.translate.errors import TranslationError
from router.translate.option_ranges import MAX_TOKENS, check_options, check_whole_number

_NUMBER_OPTIONS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("frequency_penalty", "frequency_penalty"),
    ("presence_penalty", "presence_penalty"),
)

_EFFORT_TO_THINK: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _fail(message: str, param: str | None = None, code: str | None = None) -> TranslationError:
    return TranslationError(message, 400, param, code)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _fail("'model' is required and must be a non-empty string", "model")
    return model


def _stop_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    raise _fail("'stop' must be a string or a list of strings", "stop")


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """Ollama ``options`` from the OpenAI sampling fields (plus any ``options`` extension)."""
    extra = body.get("options")
    if extra is not None and not isinstance(extra, dict):
        raise _fail("'options' must be an object", "options")
    check_options(extra)
    options: dict[str, Any] = dict(extra) if extra else {}
    for src, dst in _NUMBER_OPTIONS:
        value = body.get(src)
        if value is None:
            continue
        if not _is_number(value):
            raise _fail(f"'{src}' must be a number", src)
        options[dst] = value
    seed = body.get("seed")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise _fail("'seed' must be an integer", "seed")
        options["seed"] = seed
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(f"'{key}' must be an integer", key)
        options["num_predict"] = check_whole_number(value, key, 1, MAX_TOKENS)
        break
    stop = _stop_list(body.get("stop"))
    if stop is not None:
        options["stop"] = stop
    return options


def _common(body: dict[str, Any], out: dict[str, Any]) -> None:
    """Fields shared by chat and completions: stream, options, keep_alive."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail("'stream' must be a boolean", "stream")
    out["stream"] = bool(stream)
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _fail("'stream_options' must be an object", "stream_options")
    n = body.get("n")
    if n is not None and n != 1:
        raise _fail("only n=1 is supported", "n", "unsupported_value")
    options = _options(body)
    if options:
        out["options"] = options
    if "keep_alive" in body:
        out["keep_alive"] = body["keep_alive"]


def include_usage(body: dict[str, Any]) -> bool:
    """Whether a streaming client asked for a final usage chunk (`stream_options.include_usage`)."""
    stream_options = body.get("stream_options")
    return isinstance(stream_options, dict) and stream_options.get("include_usage") is True


def reasoning_think(body: dict[str, Any]) -> bool | str | None:
    """Ollama's ``think`` from ``reasoning_effort``, ``reasoning.effort`` or an Ollama ``think``."""
    effort = body.get("reasoning_effort")
    if effort is None:
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict):
            effort = reasoning.get("effort")
    if effort is None:
        think = body.get("think")
        if think is None or isinstance(think, bool | str):
            return think
        raise _fail("'think' must be a boolean or a string", "think")
    if not isinstance(effort, str) or effort not in _EFFORT_TO_THINK:
        raise _fail(
            "'reasoning_effort' must be one of " + ", ".join(sorted(_EFFORT_TO_THINK)),
            "reasoning_effort",
        )
    return _EFFORT_TO_THINK[effort]


def _format(value: Any) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail("'response_format' must be an object", "response_format")
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise _fail(
                "response_format json_schema needs 'json_schema.schema' as an object",
                "response_format.json_schema.schema",
            )
        return schema
    raise _fail(
        "'response_format.type' must be 'text', 'json_object' or 'json_schema'",
        "response_format.type",
    )


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _fail("'tools' must be a list", "tools")
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _fail(
                "each tool must be {'type': 'function', 'function': {'name': ...}}",
                f"tools[{i}]",
            )
        if tool.get("type", "function") != "function":
            raise _fail("only tools of type 'function' are supported", f"tools[{i}].type")
    choice = body.get("tool_choice")
    if choice is None or choice in ("auto", "required"):
        return tools or None
    if choice == "none":
        return None
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str):
            raise _fail("'tool_choice.function.name' must be a string", "tool_choice")
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise _fail(f"tool_choice names '{name}', which is not in 'tools'", "tool_choice")
        return chosen
    raise _fail(
        "'tool_choice' must be 'none', 'auto', 'required' or a named function", "tool_choice"
    )


def data_url_image(value: Any, param: str) -> str:
    """The base64 payload of an ``image_url`` (object or string) that is a ``data:`` URL.

    An ``http(s)`` URL is refused: the router never fetches URLs on a client's behalf.
    """
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise _fail("'image_url.url' must be a string", param)
    head = url[:8].lower()
    if head.startswith(("http://", "https://")):
        raise _fail(
            "image URLs are not fetched by the router; send the image inline as a base64 "
            "data: URL (data:image/png;base64,...)",
            param,
            "image_url_not_supported",
        )
    if not head.startswith("data:"):
        raise _fail("'image_url.url' must be a base64 data: URL", param, "invalid_image_url")
    header, sep, data = url.partition(",")
    meta = header[5:].split(";")
    if not sep or "base64" not in meta[1:]:
        raise _fail("image data: URL must be base64 encoded (';base64,')", param, "invalid_image")
    media_type = meta[0].lower()
    if media_type and not media_type.startswith("image/"):
        raise _fail(f"data: URL media type '{media_type}' is not an image", param, "invalid_image")
    if not data:
        raise _fail("image data: URL is empty", param, "invalid_image")
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _fail("image data: URL is not valid base64", param, "invalid_image") from None
    return data


def _content(value: Any, param: str) -> tuple[str, list[str]]:
    """Text and base64 images of an OpenAI message ``content`` (string, parts or null)."""
    if value is None:
        return "", []
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):
        raise _fail("'content' must be a string, a list of parts or null", param)
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(value):
        where = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" or kind == "refusal":
            text = part.get(kind)
            if not isinstance(text, str):
                raise _fail(f"content part '{kind}' must be a string", f"{where}.{kind}")
            texts.append(text)
        elif kind == "image_url":
            images.append(data_url_image(part.get("image_url"), f"{where}.image_url"))
        else:
            raise _fail(
                f"content part type {kind!r} is not supported (use 'text' or 'image_url')",
                where,
                "unsupported_content",
            )
    return "\n".join(texts), images


def tool_arguments_to_object(arguments: Any, param: str) -> dict[str, Any]:
    """OpenAI's ``function.arguments`` (a JSON string) as Ollama's JSON object."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        raise _fail("'function.arguments' must be a JSON string", param)
    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise _fail(
            f"'function.arguments' is not valid JSON: {exc}", param, "invalid_tool_arguments"
        ) from None
    if not isinstance(parsed, dict):
        raise _fail(
            "'function.arguments' must encode a JSON object", param, "invalid_tool_arguments"
        )
    return parsed


def _assistant_tool_calls(
    value: Any, param: str, names: dict[str, str]
) -> list[dict[str, Any]] | None:
    if not value:
        return None
    if not isinstance(value, list):
        raise _fail("'tool_calls' must be a list", param)
    calls: list[dict[str, Any]] = []
    for k, call in enumerate(value):
        where = f"{param}[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _fail("each tool call needs 'function.name'", where)
        out: dict[str, Any] = {
            "function": {
                "name": fn["name"],
                "arguments": tool_arguments_to_object(
                    fn.get("arguments"), f"{where}.function.arguments"
                ),
            }
        }
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id:
            out["id"] = call_id
            names[call_id] = fn["name"]
        calls.append(out)
    return calls


def chat_messages(raw: Any) -> list[dict[str, Any]]:
    """OpenAI ``messages`` as Ollama ``messages``."""
    if not isinstance(raw, list):
        raise _fail("'messages' must be a list", "messages")
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for i, message in enumerate(raw):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _fail("each message must be an object", param)
        role = message.get("role")
        content, images = _content(message.get("content"), f"{param}.content")
        msg: dict[str, Any]
        if role in ("tool", "function"):
            msg = {"role": "tool", "content": content}
            call_id = message.get("tool_call_id")
            name = message.get("name")
            if not isinstance(name, str) and isinstance(call_id, str):
                name = names.get(call_id)
            if isinstance(name, str):
                msg["tool_name"] = name
            if isinstance(call_id, str):
                msg["tool_call_id"] = call_id
        elif role in _ROLES:
            msg = {"role": _ROLES[role], "content": content}
            if role == "assistant":
                calls = _assistant_tool_calls(
                    message.get("tool_calls"), f"{param}.tool_calls", names
                )
                if calls:
                    msg["tool_calls"] = calls
                thinking = message.get("reasoning") or message.get("reasoning_content")
                if isinstance(thinking, str) and thinking:
                    msg["thinking"] = thinking
        else:
            raise _fail(f"unknown message role {role!r}", f"{param}.role")
        if images:
            msg["images"] = images
        out.append(msg)
    return out


def chat_request_to_ollama(body: dict[str, Any]) -> dict[str, Any]:
    """``/v1/chat/completions`` body -> ``/api/chat`` body."""
    out: dict[str, Any] = {
        "model": _require_model(body),
        "messages": chat_messages(body.get("messages")),
    }
    tools = _tools(body)
    if tools:
        out["tools"] = tools
    fmt = _format(body.get("response_format"))
    if fmt is not None:
        out["format"] = fmt
    think = reasoning_think(body)
    if think is not None:
        out["think"] = think
    _common(body, out)
    return out


def _prompt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], str):
            return value[0]
        if value and all(isinstance(p, str) for p in value):
            raise _fail("only one prompt per request is supported", "prompt", "unsupported_value")
        if value and not all(isinstance(p, str) for p in value):
            raise _fail(
                "token-array prompts are not supported; send the prompt as text",
                "prompt",
                "unsupported_value",
            )
    raise _fail("'prompt' must be a string", "prompt")


def completion_request_to_ollama(body: dict[str, Any]) -> dict[str, Any]:
    """``/v1/completions`` body -> ``/api/generate`` body."""
    out: dict[str, Any] = {"model": _require_model(body), "prompt": _prompt(body.get("prompt", ""))}
    suffix = body.get("suffix")
    if suffix is not None:
        if not isinstance(suffix, str):
            raise _fail("'suffix' must be a string", "suffix")
        out["suffix"] = suffix
    if body.get("echo"):
        raise _fail("'echo' is not supported", "echo", "unsupported_value")
    best_of = body.get("best_of")
    if best_of is not None and best_of != 1:
        raise _fail("only best_of=1 is supported", "best_of", "unsupported_value")
    think = reasoning_think(body)
    if think is not None:
        out["think"] = think
    _common(body, out)
    return out
