"""How the simulator reads an Anthropic Messages or OpenAI Responses request: as the ``/api/chat``
body its own chat handler answers, the way Ollama's compatibility layer maps one onto the other.

Anthropic: ``system`` (a string or text blocks) becomes the first message; text, ``image``
(base64), ``thinking``, ``tool_use`` and ``tool_result`` blocks become message text, ``images``,
``thinking``, ``tool_calls`` and ``tool`` messages; ``max_tokens``, ``temperature``, ``top_p``,
``top_k`` and ``stop_sequences`` become options. Responses: ``instructions`` and the ``input``
items (messages with text and image parts, ``function_call``, ``function_call_output``) likewise,
``max_output_tokens`` becoming ``num_predict`` and ``reasoning.effort`` ``think``. A malformed
request raises ``BadRequest``, which the exchange renders in the client's error format. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from .engine import BadRequest


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")
    return model


def _text_of(value: Any, where: str) -> str:
    """A string, or the text of a list of ``text`` blocks, joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, dict) for b in value):
        return "\n".join(str(b.get("text", "")) for b in value if b.get("type") == "text")
    raise BadRequest(f"'{where}' must be a string or a list of text blocks")


def _options(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {option: body[field] for field, option in names.items() if body.get(field) is not None}


def _function_tools(tools: Any, where: str) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise BadRequest(f"'{where}' must be a list of objects")
    return [{"type": "function", "function": t} for t in tools]


# --- Anthropic Messages -------------------------------------------------------------------------


def _anthropic_image(block: dict[str, Any]) -> str:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise BadRequest("only base64 image sources are supported")
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise BadRequest("an image source needs base64 'data'")
    return data


def _anthropic_message(raw: Any, tool_names: dict[str, str]) -> list[dict[str, Any]]:
    """One Anthropic message as chat messages: its tool results first, then the message itself."""
    if not isinstance(raw, dict) or raw.get("role") not in ("user", "assistant"):
        raise BadRequest("each message needs a 'role' of 'user' or 'assistant'")
    role, content = raw["role"], raw.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequest("'content' must be a string or a list of blocks")
    texts: list[str] = []
    message: dict[str, Any] = {"role": role}
    results: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image":
            message.setdefault("images", []).append(_anthropic_image(block))
        elif kind == "thinking":
            message["thinking"] = str(block.get("thinking", ""))
        elif kind == "tool_use":
            ident, name = str(block.get("id", "")), str(block.get("name", ""))
            tool_names[ident] = name
            call = {"id": ident, "function": {"name": name, "arguments": block.get("input", {})}}
            message.setdefault("tool_calls", []).append(call)
        elif kind == "tool_result":
            ident = str(block.get("tool_use_id", ""))
            text = _text_of(block.get("content", ""), "tool_result.content")
            result = {"role": "tool", "content": text, "tool_call_id": ident}
            results.append({**result, "tool_name": tool_names.get(ident, "")})
        elif kind not in ("redacted_thinking", "document"):
            raise BadRequest(f"unsupported content block type {kind!r}")
    message["content"] = "\n".join(texts)
    keep = texts or len(message) > 2 or not results
    return results + ([message] if keep else [])


def messages_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as the ``/api/chat`` body."""
    model = _model(body)
    limit = body.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise BadRequest("max_tokens is required and must be a positive integer")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest("messages is required")
    messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        messages.append({"role": "system", "content": _text_of(body["system"], "system")})
    tool_names: dict[str, str] = {}
    for raw in raw_messages:
        messages.extend(_anthropic_message(raw, tool_names))
    names = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}
    options = {"num_predict": limit, **_options(body, names)}
    if body.get("stop_sequences"):
        options["stop"] = body["stop_sequences"]
    chat: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "options": options,
        "stream": bool(body.get("stream")),
    }
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise BadRequest("'tools' must be a list of objects")
        chat["tools"] = _function_tools(
            [
                {
                    "name": t.get("name"),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema", {}),
                }
                for t in tools
            ],
            "tools",
        )
    return chat


def estimate_tokens(body: dict[str, Any]) -> int:
    """A rough input token count for ``message_start``, before the model has read the prompt."""
    return max(1, len(json.dumps(body.get("messages", ""))) // 4)


# --- OpenAI Responses ---------------------------------------------------------------------------


def _responses_parts(content: Any) -> tuple[str, list[str]]:
    """A message item's text and base64 images."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise BadRequest("'content' must be a string or a list of parts")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            texts.append(str(part.get("text", "")))
        elif kind == "input_image":
            url = str(part.get("image_url", ""))
            if not url.startswith("data:") or "," not in url:
                raise BadRequest("only base64 data URLs are supported for input_image")
            images.append(url.split(",", 1)[1])
        else:
            raise BadRequest(f"unsupported content part type {kind!r}")
    return "\n".join(texts), images


def _responses_item(item: Any, messages: list[dict[str, Any]]) -> None:
    if not isinstance(item, dict):
        raise BadRequest("each input item must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise BadRequest("a message item needs a valid 'role'")
        text, images = _responses_parts(item.get("content"))
        message: dict[str, Any] = {"role": "system" if role == "developer" else role}
        message["content"] = text
        if images:
            message["images"] = images
        messages.append(message)
    elif kind == "function_call":
        try:
            arguments = json.loads(item.get("arguments") or "{}")
        except (TypeError, ValueError):
            raise BadRequest("function_call arguments must be JSON") from None
        call = {
            "id": item.get("call_id"),
            "function": {"name": item.get("name"), "arguments": arguments},
        }
        if messages and messages[-1]["role"] == "assistant":
            messages[-1].setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else json.dumps(output)
        messages.append({"role": "tool", "content": text, "tool_call_id": item.get("call_id")})
    elif kind != "reasoning":
        raise BadRequest(f"unsupported input item type {kind!r}")


def responses_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI Responses request as the ``/api/chat`` body."""
    model = _model(body)
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            _responses_item(item, messages)
    else:
        raise BadRequest("input is required")
    tools = body.get("tools")
    if isinstance(tools, list) and any(
        not isinstance(t, dict) or t.get("type") != "function" for t in tools
    ):
        raise BadRequest("only function tools are supported")
    names = {"max_output_tokens": "num_predict", "temperature": "temperature", "top_p": "top_p"}
    chat: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "options": _options(body, names),
        "stream": bool(body.get("stream")),
    }
    functions = _function_tools(
        None if tools is None else [{k: v for k, v in t.items() if k != "type"} for t in tools],
        "tools",
    )
    if functions is not None:
        chat["tools"] = functions
    effort = (body.get("reasoning") or {}).get("effort")
    if effort not in (None, "none"):
        chat["think"] = effort if effort in ("low", "medium", "high") else True
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        chat["format"] = text_format.get("schema", {})
    elif text_format.get("type") == "json_object":
        chat["format"] = "json"
    return chat
