"""Anthropic Messages request bodies -> Ollama ``/api/chat`` bodies, and the input-token estimate.

Owns the mapping of ``POST /v1/messages`` to ``/api/chat`` and the estimate that answers
``POST /v1/messages/count_tokens``. The mapping follows Ollama's own Anthropic layer (0.14 and
later) so that a request gives the same answer whether a node translates it or the router does:

- ``system`` (a string, or text blocks joined) becomes the first message, role ``system``.
- A message's text blocks are joined without a separator; ``image`` blocks must be ``base64``
  sources (a URL source is refused: the router never fetches URLs); ``tool_use`` blocks become
  ``tool_calls`` with ``input`` as the arguments object; a ``thinking`` block becomes ``thinking``.
- ``tool_result`` blocks become ``tool`` messages (``tool_call_id``, and ``tool_name`` found from
  the matching ``tool_use``); in a user turn they come before the turn's own text.
- ``max_tokens`` (required, positive) -> ``options.num_predict``; ``temperature``, ``top_p``,
  ``top_k`` -> options; ``stop_sequences`` -> ``options.stop``.
- ``thinking: {"type": "enabled"}`` leaves ``think`` unset, so a thinking model thinks (Ollama's
  default for such models) and a model without thinking is not refused, as Ollama's endpoint
  relaxes it; ``{"type": "disabled"}`` sends ``think: false``. ``budget_tokens`` is not enforced.
- ``tool_choice`` (Ollama ignores it): ``none`` drops the tools, ``{"type": "tool", "name"}`` keeps
  only that tool, ``auto`` and ``any`` keep them all (``any`` cannot be enforced upstream).
- Unknown block types (``document``, ``redacted_thinking``...) and ``metadata`` are ignored, as
  Ollama does. A tool of any other type with a name (Anthropic-defined client tools such as
  ``bash_...``) becomes a function, as in Ollama; server tools (``web_search_...``,
  ``web_fetch_...``, ``code_execution_...``) are dropped, since no node runs them.

The token estimate is Ollama's: the characters of the system prompt, roles, text, thinking, tool
blocks and tool definitions, divided by four (at least 1). Pure: no I/O, no clock.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from router.translate.errors import TranslationError
from router.translate.option_ranges import MAX_TOKENS, check_options, check_whole_number

_ROLES = ("user", "assistant")
_SAMPLING = ("temperature", "top_p")
_SERVER_TOOLS = ("web_search", "web_fetch", "code_execution")
"""Tool types Anthropic's servers run: dropped, as nothing in the fleet can run them."""


def _fail(message: str, param: str | None = None) -> TranslationError:
    return TranslationError(message, 400, param)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _system(value: Any) -> str:
    """The system prompt: a string, or the text of a list of text blocks."""
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, list):
        raise _fail("'system' must be a string or a list of text blocks", "system")
    parts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict):
            raise _fail("each system block must be an object", f"system[{i}]")
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _image(block: dict[str, Any], where: str) -> str:
    """The base64 data of an ``image`` block, checked."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise _fail("an image block needs a 'source' object", f"{where}.source")
    if source.get("type") != "base64":
        raise _fail(
            f"image source type {source.get('type')!r} is not supported: send the image inline "
            "as a base64 source (the router never fetches URLs)",
            f"{where}.source.type",
        )
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise _fail("an image source needs base64 'data'", f"{where}.source.data")
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _fail("image data is not valid base64", f"{where}.source.data") from None
    return data


def _tool_result(block: dict[str, Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    """A ``tool_result`` block as an Ollama ``tool`` message."""
    content = block.get("content")
    text = ""
    images: list[str] = []
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image":
                images.append(_image(part, f"{where}.content[{j}]"))
        text = "".join(texts)
    elif content is not None:
        raise _fail("'content' of a tool_result must be a string or blocks", f"{where}.content")
    message: dict[str, Any] = {"role": "tool", "content": text}
    call_id = block.get("tool_use_id")
    if isinstance(call_id, str) and call_id:
        message["tool_call_id"] = call_id
        if call_id in names:
            message["tool_name"] = names[call_id]
    if images:
        message["images"] = images
    return message


def _tool_call(block: dict[str, Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        raise _fail("a tool_use block needs an 'id'", f"{where}.id")
    if not isinstance(name, str) or not name:
        raise _fail("a tool_use block needs a 'name'", f"{where}.name")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise _fail("'input' of a tool_use block must be an object", f"{where}.input")
    names[call_id] = name
    return {"id": call_id, "function": {"name": name, "arguments": arguments}}


def _message(raw: Any, param: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """One Anthropic message as one or more Ollama messages."""
    if not isinstance(raw, dict):
        raise _fail("each message must be an object", param)
    role = raw.get("role")
    if role not in _ROLES:
        raise _fail("'role' must be 'user' or 'assistant'", f"{param}.role")
    content = raw.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _fail("'content' must be a string or a list of blocks", f"{param}.content")
    text: list[str] = []
    images: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    thinking = ""
    for j, block in enumerate(content):
        where = f"{param}.content[{j}]"
        if not isinstance(block, dict):
            raise _fail("each content block must be an object", where)
        kind = block.get("type")
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise _fail("a text block needs a string 'text'", f"{where}.text")
            text.append(block["text"])
        elif kind == "image":
            images.append(_image(block, where))
        elif kind == "tool_use":
            calls.append(_tool_call(block, where, names))
        elif kind == "tool_result":
            results.append(_tool_result(block, where, names))
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking = block["thinking"]
    out: list[dict[str, Any]] = results if role == "user" else []
    if text or images or calls or thinking:
        message: dict[str, Any] = {"role": role, "content": "".join(text)}
        if images:
            message["images"] = images
        if calls:
            message["tool_calls"] = calls
        if thinking:
            message["thinking"] = thinking
        out = [*out, message]
    return out if role == "user" else [*out, *results]


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _fail("'tools' must be a list", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _fail("each tool needs a 'name'", f"tools[{i}]")
        if str(tool.get("type") or "").startswith(_SERVER_TOOLS):
            continue  # run by Anthropic's servers; no node can, so the model is not offered it
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise _fail("'input_schema' must be an object", f"tools[{i}].input_schema")
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = schema or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return _choose_tools(body.get("tool_choice"), out)


def _choose_tools(choice: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    if choice is None:
        return tools or None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("auto", "any"):
        return tools or None
    if kind == "none":
        return None
    if kind == "tool":
        name = choice.get("name")
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise _fail(f"tool_choice names {name!r}, which is not in 'tools'", "tool_choice")
        return chosen
    raise _fail("'tool_choice.type' must be 'auto', 'any', 'tool' or 'none'", "tool_choice")


def _options(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("max_tokens") is None:
        raise _fail("'max_tokens' is required", "max_tokens")
    max_tokens = check_whole_number(body["max_tokens"], "max_tokens", 1, MAX_TOKENS)
    options: dict[str, Any] = {"num_predict": max_tokens}
    for key in _SAMPLING:
        value = body.get(key)
        if value is not None:
            if not _is_number(value):
                raise _fail(f"'{key}' must be a number", key)
            options[key] = value
    if body.get("top_k") is not None:
        options["top_k"] = check_whole_number(body["top_k"], "top_k", 0, MAX_TOKENS)
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _fail("'stop_sequences' must be a list of strings", "stop_sequences")
        if stop:
            options["stop"] = stop
    check_options(options)
    return options


def _think(value: Any) -> bool | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "enabled":
        return None  # the model's default: thinking models think, others are not refused
    if kind == "disabled":
        return False
    raise _fail("'thinking.type' must be 'enabled' or 'disabled'", "thinking")


def messages_request_to_ollama(body: dict[str, Any]) -> dict[str, Any]:
    """``/v1/messages`` body -> ``/api/chat`` body (``stream`` always set)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _fail("'model' is required", "model")
    options = _options(body)
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _fail("'messages' is required and must be a non-empty list", "messages")
    messages: list[dict[str, Any]] = []
    system = _system(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    names: dict[str, str] = {}
    for i, raw in enumerate(raw_messages):
        messages.extend(_message(raw, f"messages[{i}]", names))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _fail("'stream' must be a boolean", "stream")
    out: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    tools = _tools(body)
    if tools:
        out["tools"] = tools
    think = _think(body.get("thinking"))
    if think is not None:
        out["think"] = think
    out["options"] = options
    return out


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        for key in ("text", "thinking"):
            if isinstance(block.get(key), str):
                total += len(block[key])
        if block.get("type") in ("tool_use", "tool_result"):
            total += len(json.dumps(block, separators=(",", ":")))
    return total


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """Ollama's estimate of a request's input tokens: its characters / 4, at least 1."""
    total = _content_chars(body.get("system"))
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict):
            total += len(str(message.get("role", ""))) + _content_chars(message.get("content"))
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            schema = tool.get("input_schema")
            total += len(str(tool.get("name", ""))) + len(str(tool.get("description", "")))
            total += len(json.dumps(schema, separators=(",", ":"))) if schema else 0
    return max(total // 4, 1)
