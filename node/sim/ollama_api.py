"""The simulator's Ollama API: ``/api/version``, ``/api/tags`` (with ``capabilities`` from 0.30.0),
``/api/ps``, ``/api/show``, ``/api/pull``, ``/api/delete``, ``/api/chat``, ``/api/generate``,
``/api/embed`` and ``/api/embeddings``, with Ollama's exact reply shapes (NDJSON chunks or one JSON
object).

Owns request validation and reply shapes for those paths, as handler methods of the
``OllamaEndpoints`` mixin that ``server.Simulator`` inherits. It must never touch the ASGI
connection (that is ``exchange``), model physics (``engine``) or reply content (``replies``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from herd_contract.versions import parse_version

from . import replies
from .catalogue import CATALOGUE, ModelSpec, find_model
from .engine import BadRequest, Engine, ModelNotFound, SimConfig, SimError, parse_keep_alive
from .exchange import Call, model_field
from .framing import JSON, NDJSON, Head, Item, dumps, iso, line, ns
from .generation import (
    OVERHEAD_S,
    Stats,
    collect,
    conversation_prefixes,
    embed_vectors,
    generate_events,
    generate_transcript,
    message_tokens,
    plan_chat,
    started,
)
from .ollama_images import OllamaImages

TAGS_CAPABILITIES_SINCE = (0, 30, 0)
"""The first Ollama whose ``/api/tags`` lists each model's capabilities."""
FOREVER_S = 9_223_372_036.0
"""Ollama shows a model kept forever as expiring ~292 years from now (max int64 nanoseconds)."""
_CAPABILITY_VERB = {"completion": "generate", "embedding": "embeddings"}


def details_of(spec: ModelSpec) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "safetensors" if spec.makes_images else "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization,
    }


class OllamaEndpoints:
    """The ``/api/*`` handlers; mixed into ``server.Simulator``, which provides the state."""

    config: SimConfig
    engine: Engine
    created: int
    images: OllamaImages

    # --- Ollama: simple reads -----------------------------------------------------------------

    async def version(self, call: Call) -> AsyncIterator[Item]:
        yield Head(200, JSON, False)
        yield dumps({"version": self.config.version})

    def _tag_entry(self, spec: ModelSpec) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": spec.name,
            "model": spec.name,
            "modified_at": iso(self.engine.disk.get(spec.name, self.created)),
            "size": spec.size,
            "digest": spec.digest,
            "details": details_of(spec),
        }
        if (parse_version(self.config.version) or (0, 0, 0)) >= TAGS_CAPABILITIES_SINCE:
            entry["capabilities"] = list(spec.capabilities)
        return entry

    async def tags(self, call: Call) -> AsyncIterator[Item]:
        disk = sorted(self.engine.disk.items(), key=lambda kv: -kv[1])
        models = [self._tag_entry(CATALOGUE[name]) for name, _ in disk]
        yield Head(200, JSON, False)
        yield dumps({"models": models})

    async def ps(self, call: Call) -> AsyncIterator[Item]:
        now = self.engine.clock()
        models = []
        for loaded in self.engine.loaded_models():
            spec = loaded.spec
            expires = loaded.expires_at if loaded.expires_at is not None else now + FOREVER_S
            models.append(
                {
                    "name": spec.name,
                    "model": spec.name,
                    "size": loaded.size,
                    "digest": spec.digest,
                    "details": details_of(spec),
                    "expires_at": iso(expires),
                    "size_vram": loaded.size,
                    "context_length": loaded.context_length,
                }
            )
        yield Head(200, JSON, False)
        yield dumps({"models": models})

    async def show(self, call: Call) -> AsyncIterator[Item]:
        name = model_field(call.body)
        spec = self.engine.on_disk(name)
        if spec is None:
            raise ModelNotFound(f"model '{name}' not found")
        body: dict[str, Any] = {
            "license": "Simulated model: no licence text.",
            "modelfile": modelfile(spec),
            "details": details_of(spec),
            "capabilities": list(spec.capabilities),
            "modified_at": iso(self.engine.disk[spec.name]),
            "model_info": None,  # Go's nil map: an image model has none to show
        }
        if not spec.makes_images:  # Ollama shows an image model without these
            arch = spec.family.replace("-", "")
            body["parameters"] = (
                "" if spec.is_embedding else 'stop                           "<|eot|>"'
            )
            body["template"] = "" if spec.is_embedding else "{{ .System }}\n{{ .Prompt }}"
            body["model_info"] = {
                "general.architecture": arch,
                "general.basename": spec.name.split(":")[0],
                "general.file_type": 15,
                "general.parameter_count": int(spec.parameters_b * 1e9),
                "general.quantization_version": 2,
                f"{arch}.context_length": spec.context_length,
                f"{arch}.embedding_length": spec.embedding_length,
            }
        yield Head(200, JSON, False)
        yield dumps(body)

    # --- Ollama: model management ---------------------------------------------------------------

    async def pull(self, call: Call) -> AsyncIterator[Item]:
        name = model_field(call.body)
        stream = call.body.get("stream") is not False
        spec = find_model(name)
        if stream:
            yield Head(200, NDJSON, True)
            yield line({"status": "pulling manifest"})
        if spec is None:
            message = "pull model manifest: file does not exist"
            if not stream:
                raise SimError(message, 500)
            call.record["outcome"] = "error"
            call.record["error"] = message
            yield line({"error": message})
            return
        present = spec.name in self.engine.disk
        layers = [(spec.blob_digest, spec.size)] + [
            (
                "sha256:" + replies.seed_of(spec.digest, i).to_bytes(8, "big").hex() * 4,
                size,
            )
            for i, size in enumerate((1_436, 12_403, 96, 487))
        ]
        steps = 10
        for digest, total in layers:
            short = digest.removeprefix("sha256:")[:12]
            status = f"pulling {short}"
            if stream:
                yield line({"status": status, "digest": digest, "total": total})
            if present:
                continue
            seconds = self.engine.profile.download_seconds(total)
            for step in range(1, steps + 1):
                await self.engine.sleep(seconds / steps)
                if stream:
                    completed = total * step // steps
                    yield line(
                        {"status": status, "digest": digest, "total": total, "completed": completed}
                    )
        if stream:
            yield line({"status": "verifying sha256 digest"})
            yield line({"status": "writing manifest"})
        self.engine.add_to_disk(spec)
        counters = self.engine.counters.pulls
        counters[spec.name] = counters.get(spec.name, 0) + 1
        if not stream:
            yield Head(200, JSON, False)
            yield dumps({"status": "success"})
        else:
            yield line({"status": "success"})

    async def delete(self, call: Call) -> AsyncIterator[Item]:
        name = model_field(call.body)
        if not self.engine.remove_from_disk(name):
            raise ModelNotFound(f"model '{name}' not found")
        yield Head(200, JSON, False)

    # --- Ollama: inference ----------------------------------------------------------------------

    def _prepare(
        self, call: Call, capability: str | None
    ) -> tuple[str, ModelSpec, dict[str, Any], Any]:
        body = call.body
        name = model_field(body)
        spec = self.engine.require(name)
        if capability is not None and capability not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support {_CAPABILITY_VERB[capability]}')
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options must be an object")
        keep_alive = parse_keep_alive(body.get("keep_alive"), self.engine.default_keep_alive)
        return name, spec, options, keep_alive

    def _think(self, name: str, spec: ModelSpec, value: Any) -> bool:
        wanted = value not in (None, False, "", "none")
        if wanted and "thinking" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support thinking')
        return wanted

    async def _load_only(
        self, call: Call, name: str, options: dict[str, Any], keep_alive: Any, kind: str
    ) -> AsyncIterator[Item]:
        if keep_alive == 0:
            self.engine.request_unload(name)
            reason = "unload"
        else:
            slot = await self.engine.load(
                name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive
            )
            call.record["cold_load"] = slot.cold_load
            reason = "load"
        reply: dict[str, Any] = {"model": name, "created_at": iso(self.engine.clock())}
        if kind == "chat":
            reply["message"] = {"role": "assistant", "content": ""}
        else:
            reply["response"] = ""
        reply.update({"done": True, "done_reason": reason})
        yield Head(200, JSON, False)
        yield dumps(reply)

    async def chat(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, "completion")
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise BadRequest("messages must be a list of objects")
        think = self._think(name, spec, body.get("think"))
        tools = body.get("tools") or None
        if tools is not None and not isinstance(tools, list):
            raise BadRequest("tools must be a list")
        if tools and "tools" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support tools')
        if not messages:
            async for item in self._load_only(call, name, options, keep_alive, "chat"):
                yield item
            return
        stream = body.get("stream") is not False
        prompt_tokens = message_tokens(messages)
        if tools:
            prompt_tokens += replies.count_tokens(json.dumps(tools))
        fmt = body.get("format") or None
        plan = plan_chat(spec.name, messages, tools, options, think=think, fmt=fmt)
        prefixes = conversation_prefixes(
            spec.name, messages, prompt_tokens - message_tokens(messages)
        )
        events = generate_events(call, name, plan, prompt_tokens, options, keep_alive, prefixes)
        clock = self.engine.clock

        def final(message: dict[str, Any], stats: Stats) -> dict[str, Any]:
            return {
                "model": name,
                "created_at": iso(clock()),
                "message": message,
                "done": True,
                "done_reason": plan.done_reason,
                **stats.ollama(),
            }

        if stream:
            events = await started(events)
            yield Head(200, NDJSON, True)
            async for kind, value in events:
                message: dict[str, Any] = {"role": "assistant", "content": ""}
                if kind == "done":
                    yield line(final(message, value))
                    continue
                if kind == "content":
                    message["content"] = value
                elif kind == "thinking":
                    message["thinking"] = value
                else:
                    message["tool_calls"] = _ollama_tool_calls(value)
                yield line(
                    {"model": name, "created_at": iso(clock()), "message": message, "done": False}
                )
            return
        reply = await collect(events)
        message = {"role": "assistant", "content": reply.content}
        if think:
            message["thinking"] = reply.thinking
        if reply.tool_calls:
            message["tool_calls"] = _ollama_tool_calls(reply.tool_calls)
        yield Head(200, JSON, False)
        yield dumps(final(message, reply.stats))

    async def generate(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        shown = self.engine.on_disk(model_field(body))
        if shown is not None and shown.makes_images:
            name, spec, _, keep_alive = self._prepare(call, None)
            async for item in self.images.generate(call, name, spec, keep_alive):
                yield item
            return
        name, spec, options, keep_alive = self._prepare(call, "completion")
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string")
        think = self._think(name, spec, body.get("think"))
        if not prompt:
            async for item in self._load_only(call, name, options, keep_alive, "generate"):
                yield item
            return
        stream = body.get("stream") is not False
        system = body.get("system") or ""
        suffix = body.get("suffix") or ""
        context = body.get("context") or []
        prompt_tokens = (
            replies.count_tokens(str(system))
            + replies.count_tokens(prompt)
            + replies.count_tokens(str(suffix))
            + (len(context) if isinstance(context, list) else 0)
            + 4
        )
        fmt = body.get("format") or None
        plan = replies.plan_reply(
            model=spec.name,
            prompt=generate_transcript(str(system), prompt),
            options=options,
            think=think,
            fmt=fmt,
        )
        events = generate_events(call, name, plan, prompt_tokens, options, keep_alive)
        clock = self.engine.clock
        text: list[str] = []
        thinking: list[str] = []
        stats: Stats | None = None
        if stream:
            events = await started(events)
            yield Head(200, NDJSON, True)
        async for kind, value in events:
            if kind == "done":
                stats = value
                break
            if kind == "content":
                text.append(value)
            else:
                thinking.append(value)
            if stream:
                chunk: dict[str, Any] = {"model": name, "created_at": iso(clock())}
                chunk["response"] = value if kind == "content" else ""
                if kind == "thinking":
                    chunk["thinking"] = value
                chunk["done"] = False
                yield line(chunk)
        assert stats is not None
        final: dict[str, Any] = {"model": name, "created_at": iso(clock())}
        final["response"] = "" if stream else "".join(text)
        if think and not stream:
            final["thinking"] = "".join(thinking)
        final.update({"done": True, "done_reason": plan.done_reason})
        final["context"] = replies.context_ids(
            prompt + "".join(text), prompt_tokens + stats.eval_count
        )
        final.update(stats.ollama())
        if stream:
            yield line(final)
        else:
            yield Head(200, JSON, False)
            yield dumps(final)

    async def embed(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, None)
        raw = body.get("input", [])
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise BadRequest("invalid input type")
        inputs = [i for i in inputs if i] if inputs == [""] else inputs
        if not inputs:
            if keep_alive == 0:
                self.engine.request_unload(name)
            else:
                await self.engine.load(name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive)
            yield Head(200, JSON, False)
            yield dumps({"model": name, "embeddings": []})
            return
        vectors, stats = await embed_vectors(
            call,
            name,
            spec,
            inputs,
            options,
            keep_alive,
            truncate=body.get("truncate") is not False,
            dimensions=body.get("dimensions"),
            normalise=True,
        )
        reply = {
            "model": name,
            "embeddings": vectors,
            "total_duration": ns(stats.load_s + stats.prompt_s + OVERHEAD_S),
            "load_duration": ns(stats.load_s),
            "prompt_eval_count": stats.prompt_tokens,
        }
        yield Head(200, JSON, False)
        yield dumps(reply)

    async def embeddings(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, None)
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string")
        if not prompt:
            await self.engine.load(name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive)
            vector: list[float] = []
        else:
            vectors, _ = await embed_vectors(
                call,
                name,
                spec,
                [prompt],
                options,
                keep_alive,
                truncate=True,
                dimensions=None,
                normalise=False,
            )
            vector = vectors[0]
        yield Head(200, JSON, False)
        yield dumps({"embedding": vector})


def _ollama_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"function": {"index": i, "name": c["function"]["name"], **_args(c)}}
        for i, c in enumerate(calls)
    ]


def _args(call: dict[str, Any]) -> dict[str, Any]:
    return {"arguments": call["function"].get("arguments", {})}


BLOB_DIR = "/usr/share/ollama/.ollama/models/blobs"
"""Where a Linux service install of Ollama keeps its blobs (the path ``FROM`` shows)."""


def modelfile(spec: ModelSpec) -> str:
    """``/api/show``'s ``modelfile``, shaped as Ollama writes it: a comment naming the model,
    then ``FROM`` the weights blob's path."""
    return (
        '# Modelfile generated by "ollama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        f"# FROM {spec.name}\n\n"
        f"FROM {BLOB_DIR}/{spec.blob_file}\n"
    )
