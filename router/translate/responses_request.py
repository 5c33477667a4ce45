"""OpenAI Responses request bodies -> Ollama ``/api/chat`` bodies.

Owns the mapping of ``POST /v1/responses`` to ``/api/chat``, following Ollama's own Responses
layer (0.13.3 and later) so a node's translation and the router's agree:

- ``instructions`` becomes the first message, role ``system``; ``input`` is a string (one user
  message) or a list of items: messages (``{"role", "content"}`` with or without
  ``"type": "message"``; content a string or ``input_text``/``output_text``/``input_image``
  parts), ``function_call`` (merged into the preceding assistant message's ``tool_calls``),
  ``function_call_output`` (a ``tool`` message) and ``reasoning`` (the next assistant message's
  ``thinking``). ``developer`` is a system message.
- ``input_image`` must be a base64 ``data:`` URL (the router never fetches URLs); ``input_file``
  is refused, as Ollama does.
- ``temperature`` defaults to 1.0 as in Ollama's endpoint; ``top_p``; ``max_output_tokens`` ->
  ``options.num_predict``; ``reasoning.effort`` -> ``think``; ``text.format`` ``json_schema`` or
  ``json_object`` -> ``format``.
- Only ``function`` tools; ``tool_choice`` ``none`` drops them, a named function keeps only it.
- Stateless, like Ollama: ``previous_response_id``, ``conversation``, ``store`` and
  ``background`` are accepted and ignored (nothing is stored; send the whole conversation as
  ``input`` items).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from router.translate.errors import TranslationError
from router.translate.openai_request import (
    data_url_image,
    reasoning_think,
    tool_arguments_to_object,
)
from router.translate.option_ranges import MAX_TOKENS, check_whole_number

_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}


def _fail(message: str, param: str | None = None) -> TranslationError:
    return TranslationError(message, 400, param)


def _parts(content: Any, param: str) -> tuple[str, list[str]]:
    """Text and base64 images of an input message's ``content``."""
    if isinstance(content, str):
        return content, []
    if content is None:
        return "", []
    if not isinstance(content, list):
        raise _fail("'content' must be a string or a list of parts", param)
    text: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            if not isinstance(part.get("text"), str):
                raise _fail("a text part needs a string 'text'", f"{where}.text")
            text.append(part["text"])
        elif kind == "input_image":
            url = part.get("image_url")
            if url is None:
                raise _fail("input_image needs 'image_url' (file_id is not supported)", where)
            images.append(data_url_image(url, f"{where}.image_url"))
        elif kind == "input_file":
            raise _fail("file inputs are not supported", where)
        else:
            raise _fail(f"unknown content part type {kind!r}", where)
    return "".join(text), images


class _Conversation:
    """The Ollama messages built item by item, with the state merging needs."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.thinking = ""
        self.names: dict[str, str] = {}

    def message(self, item: dict[str, Any], param: str) -> None:
        role = _ROLES.get(str(item.get("role")))
        if role is None:
            raise _fail("'role' must be user, assistant, system or developer", f"{param}.role")
        text, images = _parts(item.get("content"), f"{param}.content")
        message: dict[str, Any] = {"role": role, "content": text}
        if images:
            message["images"] = images
        if role == "assistant" and self.thinking:
            message["thinking"], self.thinking = self.thinking, ""
        self.messages.append(message)

    def function_call(self, item: dict[str, Any], param: str) -> None:
        name, call_id = item.get("name"), item.get("call_id")
        if not isinstance(name, str) or not name:
            raise _fail("a function_call item needs a 'name'", f"{param}.name")
        call: dict[str, Any] = {
            "function": {
                "name": name,
                "arguments": tool_arguments_to_object(item.get("arguments"), f"{param}.arguments"),
            }
        }
        if isinstance(call_id, str) and call_id:
            call["id"] = call_id
            self.names[call_id] = name
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant":
            last = {"role": "assistant", "content": ""}
            self.messages.append(last)
        last.setdefault("tool_calls", []).append(call)
        if self.thinking:
            last["thinking"], self.thinking = self.thinking, ""

    def function_output(self, item: dict[str, Any], param: str) -> None:
        output = item.get("output")
        if isinstance(output, list):
            text, images = _parts(output, f"{param}.output")
        elif isinstance(output, str) or output is None:
            text, images = output or "", []
        else:
            raise _fail("'output' must be a string or a list of parts", f"{param}.output")
        message: dict[str, Any] = {"role": "tool", "content": text}
        call_id = item.get("call_id")
        if isinstance(call_id, str) and call_id:
            message["tool_call_id"] = call_id
            if call_id in self.names:
                message["tool_name"] = self.names[call_id]
        if images:
            message["images"] = images
        self.messages.append(message)

    def reasoning(self, item: dict[str, Any]) -> None:
        text = item.get("encrypted_content")
        if not isinstance(text, str) or not text:
            summary = item.get("summary")
            parts = summary if isinstance(summary, list) else []
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        self.thinking = text

    def close(self) -> list[dict[str, Any]]:
        if self.thinking:
            self.messages.append({"role": "assistant", "content": "", "thinking": self.thinking})
            self.thinking = ""
        return self.messages


def _input(value: Any, conversation: _Conversation) -> None:
    if isinstance(value, str):
        conversation.messages.append({"role": "user", "content": value})
        return
    if not isinstance(value, list):
        raise _fail("'input' must be a string or a list of items", "input")
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise _fail("each input item must be an object", param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            conversation.message(item, param)
        elif kind == "function_call":
            conversation.function_call(item, param)
        elif kind == "function_call_output":
            conversation.function_output(item, param)
        elif kind == "reasoning":
            conversation.reasoning(item)
        else:
            raise _fail(f"unknown input item type {kind!r}", f"{param}.type")


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _fail("'tools' must be a list", "tools")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise _fail("only tools of type 'function' are supported", f"tools[{i}].type")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _fail("a function tool needs a 'name'", f"tools[{i}].name")
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        parameters = tool.get("parameters")
        function["parameters"] = parameters if isinstance(parameters, dict) else {}
        out.append({"type": "function", "function": function})
    choice = body.get("tool_choice")
    if choice is None or choice in ("auto", "required"):
        return out or None
    if choice == "none":
        return None
    name = choice.get("name") if isinstance(choice, dict) else None
    chosen = [t for t in out if t["function"]["name"] == name]
    if not chosen:
        raise _fail(
            "'tool_choice' must be none, auto, required or a listed function", "tool_choice"
        )
    return chosen


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"temperature": 1.0}
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(f"'{key}' must be a number", key)
        options[key] = value
    limit = body.get("max_output_tokens")
    if limit is not None:
        options["num_predict"] = check_whole_number(limit, "max_output_tokens", 1, MAX_TOKENS)
    return options


def _format(body: dict[str, Any]) -> str | dict[str, Any] | None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema: dict[str, Any] = fmt["schema"]
        return schema
    if fmt.get("type") == "json_object":
        return "json"
    return None


def responses_request_to_ollama(body: dict[str, Any]) -> dict[str, Any]:
    """``/v1/responses`` body -> ``/api/chat`` body (``stream`` always set)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _fail("'model' is required", "model")
    conversation = _Conversation()
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _fail("'instructions' must be a string", "instructions")
    if instructions:
        conversation.messages.append({"role": "system", "content": instructions})
    _input(body.get("input"), conversation)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise _fail("'stream' must be a boolean", "stream")
    out: dict[str, Any] = {
        "model": model,
        "messages": conversation.close(),
        "stream": bool(stream),
        "options": _options(body),
    }
    tools = _tools(body)
    if tools:
        out["tools"] = tools
    fmt = _format(body)
    if fmt is not None:
        out["format"] = fmt
    think = reasoning_think(body)
    if think is not None:
        out["think"] = think
    return out
