"""The simulator's physics: memory, loading, eviction, parallel slots, queueing and speed.

Owns the state of one simulated Ollama server: which models are on disk, which are loaded (with
their context length, size in memory, requests in flight and expiry), the FIFO of requests waiting
for a slot, and the counters the test hooks expose. The clock and the sleeper are injected, so unit
tests drive it with a virtual clock and never wait for real.

Rules (after Ollama's scheduler):
- at most ``num_parallel`` requests of one model hold a slot at once; the rest wait, first come
  first served; more than ``max_queue`` waiting requests server-wide -> ``ServerBusy`` (503);
- a model is loaded with the context ``options.num_ctx`` or the server default (4096), capped at
  the model's own limit; a request asking for a different context waits until the model is idle,
  then reloads it (counted in ``reloads``, not ``loads``);
- loading needs memory for weights + KV cache (see ``catalogue``); idle models are evicted until
  it fits and ``max_loaded_models`` holds, in Ollama's order (``findRunnerToUnload`` sorted
  ``ByDurationAndName``): the shortest keep-alive of its latest request first (forever last), then
  by the path of its weights blob, so which one goes is no matter of recent use. A model with
  requests in flight is never evicted: the request waits for it to go idle (``memory_wait``,
  Ollama's behaviour) or fails at once when ``memory_wait`` is off. A model larger than all
  memory fails at once with Ollama's message;
- requests are taken one at a time, in arrival order (Ollama's ``processPending``: "Block other
  requests until we get this pending request running"): a request whose model is loaded or
  loading joins that model's line, one whose model must load starts the load, and one that must
  wait for busy models to go idle (for memory or a reload) holds up every request behind it,
  whatever their model, until it is on its way;
- cold load takes ``size / load_gbps``; prompt evaluation ``tokens / prompt_tps``; each generated
  token ``1 / decode_tps`` stretched by ``batch_penalty`` per other request generating at once;
- after a request, the model expires ``keep_alive`` later (default 5m; negative = never; 0 = unload
  as soon as it is idle). Expiry is applied lazily, whenever the engine is consulted.
- a loaded model remembers the conversations it evaluated: a chat that extends one only evaluates
  (and reports in ``prompt_eval_count``) its new tokens; a reload or unload forgets them;
- every modelled delay is multiplied by ``time_scale`` before sleeping (0 = never sleep). Reported
  durations are the modelled ones, so tokens/s stays meaningful at any time scale. ``keep_alive``
  is a wall-clock promise to the client and is not scaled.
This module never touches the network and never logs per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from herd_contract.model_names import normalize

from .catalogue import CATALOGUE, GIB, ModelSpec, Profile, get_profile

Clock = Callable[[], float]
Sleeper = Callable[[float], Awaitable[None]]

DEFAULT_CONTEXT = 4096
UNLOAD_HISTORY = 100
PROMPT_CACHE_ENTRIES = 64


# --- errors: typed inside, translated once by the server --------------------------------------


class SimError(Exception):
    """An error Ollama would answer with ``{"error": message}`` and ``status``."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(SimError):
    status = 400


class ModelNotFound(SimError):
    status = 404


class InsufficientMemory(SimError):
    status = 500


class ServerBusy(SimError):
    status = 503

    def __init__(self) -> None:
        super().__init__("server busy, please try again.  maximum pending requests exceeded")


# --- configuration ------------------------------------------------------------------------------


@dataclass
class SimConfig:
    """How one simulated server is set up. ``None`` means "the profile's default"."""

    profile: str = "laptop"
    time_scale: float = 1.0
    num_parallel: int | None = None
    max_loaded_models: int | None = None
    max_queue: int = 512
    keep_alive: str | float = "5m"
    context_length: int = DEFAULT_CONTEXT
    models: list[str] | None = None
    memory_gb: float | None = None
    memory_wait: bool = True
    version: str = "0.14.3"
    """What ``/api/version`` reports; below 0.13.3 / 0.14.0 the Responses / Anthropic endpoints
    answer 404, as that Ollama would."""
    image_models: list[str] | None = None
    """Models of the simulated image server (None: every one ``media`` knows)."""
    stt_models: list[str] | None = None


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_keep_alive(value: Any, default: float | None) -> float | None:
    """Seconds to keep a model after a request; ``None`` means forever.

    Accepts what Ollama accepts: a number of seconds, a numeric string, or a Go duration such as
    ``"10m"``, ``"1h30m"``, ``"-1m"``. Negative means forever, 0 means unload at once.
    ``None`` (field absent) gives ``default``.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        raise BadRequest(f"invalid keep_alive: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            sign = -1.0 if text.startswith("-") else 1.0
            body = text.lstrip("+-")
            parts = _DURATION_PART.findall(body)
            if not body or "".join(n + u for n, u in parts) != body:
                raise BadRequest(f'time: invalid duration "{value}"') from None
            seconds = sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise BadRequest(f"invalid keep_alive: {value!r}")
    return None if seconds < 0 else seconds


# --- state --------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    spec: ModelSpec
    context_length: int
    num_parallel: int
    size: int
    loaded_at: float
    last_used: float
    state: str = "loading"  # "loading" | "ready"
    in_flight: int = 0
    expires_at: float | None = None
    session_s: float | None = 300.0
    """The keep-alive its latest request asked for (Ollama's ``sessionDuration``); None: forever."""
    load_seconds: float = 0.0
    cold_pending: bool = False
    """True while the load that just finished hands out its first slots (cold starts)."""
    is_reload: bool = False
    unload_when_idle: bool = False
    prompt_cache: OrderedDict[str, int] = field(default_factory=OrderedDict)
    """Conversation prefixes this runner has evaluated (key -> tokens); lost on unload."""

    def cached_tokens(self, prefixes: list[tuple[str, int]]) -> int:
        """Tokens of the longest prefix already evaluated (Ollama's prompt cache)."""
        best = 0
        for key, tokens in prefixes:
            if key in self.prompt_cache:
                self.prompt_cache.move_to_end(key)
                best = max(best, tokens)
        return best

    def remember(self, key: str, tokens: int) -> None:
        self.prompt_cache[key] = tokens
        self.prompt_cache.move_to_end(key)
        while len(self.prompt_cache) > PROMPT_CACHE_ENTRIES:
            self.prompt_cache.popitem(last=False)


@dataclass
class _Waiter:
    name: str
    context_length: int
    seq: int
    future: asyncio.Future[None]
    keep_alive: float | None
    cold: bool = False
    admitted: bool = False
    """Taken by the scheduler: its model is loaded or loading and it waits only for a slot."""


@dataclass
class Slot:
    """A granted place to generate: the model is loaded and this request counts as in flight."""

    engine: Engine
    model: LoadedModel
    cold_load: bool
    load_seconds: float
    concurrent_at_start: int
    granted_at: float

    @property
    def name(self) -> str:
        return self.model.spec.name

    async def prompt_eval(self, tokens: int) -> float:
        """Evaluate ``tokens`` prompt tokens; returns the modelled seconds."""
        seconds = tokens / self.engine.profile.prompt_tps(self.model.spec) if tokens > 0 else 0.0
        await self.engine.sleep(seconds)
        return seconds

    def token_seconds(self) -> float:
        """Modelled seconds for the next token, given how many requests generate at once."""
        others = max(self.model.in_flight - 1, 0)
        base = 1.0 / self.engine.profile.decode_tps(self.model.spec)
        return base * (1.0 + self.engine.profile.batch_penalty * others)

    async def decode(self) -> float:
        """Generate one token; returns the modelled seconds it took."""
        seconds = self.token_seconds()
        await self.engine.sleep(seconds)
        return seconds


@dataclass
class Counters:
    loads: dict[str, int] = field(default_factory=dict)
    reloads: dict[str, int] = field(default_factory=dict)
    pulls: dict[str, int] = field(default_factory=dict)
    max_concurrent_seen: dict[str, int] = field(default_factory=dict)
    evictions: int = 0
    unloaded: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=UNLOAD_HISTORY))


def _bump(table: dict[str, int], key: str, by: int = 1) -> None:
    table[key] = table.get(key, 0) + by


class Engine:
    """One simulated Ollama server's models, memory and scheduler."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Clock = time.time,
        sleeper: Sleeper = asyncio.sleep,
    ) -> None:
        self.config = config or SimConfig()
        self.profile: Profile = get_profile(self.config.profile)
        self.clock = clock
        self._sleeper = sleeper
        names = self.config.models if self.config.models is not None else self.profile.models
        self.disk: dict[str, float] = {}
        for raw in names:
            spec = CATALOGUE.get(normalize(raw))
            if spec is None:
                raise ValueError(f"unknown model {raw!r}; the catalogue has {sorted(CATALOGUE)}")
            self.disk[spec.name] = self.clock() - 86_400 * (1 + len(self.disk))
        self.loaded: dict[str, LoadedModel] = {}
        self._waiters: dict[str, deque[_Waiter]] = {}
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters = Counters()
        self.default_keep_alive = parse_keep_alive(self.config.keep_alive, 300.0)

    # --- knobs --------------------------------------------------------------------------------

    @property
    def num_parallel(self) -> int:
        return self.config.num_parallel or self.profile.num_parallel

    @property
    def max_loaded_models(self) -> int:
        return self.config.max_loaded_models or self.profile.max_loaded_models

    @property
    def memory_total(self) -> int:
        gb = self.config.memory_gb if self.config.memory_gb is not None else self.profile.memory_gb
        return int(gb * GIB)

    @property
    def memory_used(self) -> int:
        return sum(m.size for m in self.loaded.values())

    def reconfigure(self, **changes: Any) -> None:
        """Change knobs at runtime (time_scale, num_parallel, max_loaded_models, ...)."""
        for key, value in changes.items():
            if not hasattr(self.config, key) or key in {"profile", "models"}:
                raise BadRequest(f"unknown or fixed setting: {key}")
            setattr(self.config, key, value)
        if "keep_alive" in changes:
            self.default_keep_alive = parse_keep_alive(self.config.keep_alive, 300.0)
        self._schedule()

    async def sleep(self, modelled_seconds: float) -> None:
        """Sleep for a modelled duration, scaled; at scale 0 only yield to the loop."""
        scaled = modelled_seconds * self.config.time_scale
        if scaled > 0:
            await self._sleeper(scaled)
        else:
            await asyncio.sleep(0)

    # --- models on disk ----------------------------------------------------------------------

    def on_disk(self, name: str) -> ModelSpec | None:
        key = normalize(name)
        return CATALOGUE[key] if key in self.disk else None

    def require(self, name: str) -> ModelSpec:
        spec = self.on_disk(name)
        if spec is None:
            raise ModelNotFound(f'model "{name}" not found, try pulling it first')
        return spec

    def add_to_disk(self, spec: ModelSpec) -> None:
        self.disk[spec.name] = self.clock()

    def remove_from_disk(self, name: str) -> bool:
        key = normalize(name)
        if key not in self.disk:
            return False
        del self.disk[key]
        model = self.loaded.get(key)
        if model is not None:
            if model.in_flight == 0 and model.state == "ready":
                self._unload(key, "deleted")
            else:
                model.unload_when_idle = True
        return True

    def context_for(self, spec: ModelSpec, num_ctx: Any) -> int:
        if num_ctx is None:
            wanted = self.config.context_length
        else:
            try:
                wanted = int(num_ctx)
            except (TypeError, ValueError):
                raise BadRequest(f"invalid num_ctx: {num_ctx!r}") from None
            if wanted <= 0:
                wanted = self.config.context_length
        return max(1, min(wanted, spec.context_length))

    # --- scheduling ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(
        self, name: str, *, num_ctx: Any = None, keep_alive: float | str | None = "default"
    ) -> AsyncIterator[Slot]:
        """Wait for a slot on ``name`` (loading it if needed), hold it for the body, release it.

        ``keep_alive`` is seconds (None = forever); the string ``"default"`` uses the server's.
        """
        spec = self.require(name)
        ka = self.default_keep_alive if keep_alive == "default" else keep_alive
        assert not isinstance(ka, str)
        context_length = self.context_for(spec, num_ctx)
        need = spec.loaded_size(context_length, self.num_parallel)
        if need > self.memory_total:
            raise self._memory_error(need)
        if sum(len(q) for q in self._waiters.values()) >= self.config.max_queue:
            raise ServerBusy()
        self._seq += 1
        waiter = _Waiter(
            spec.name, context_length, self._seq, asyncio.get_running_loop().create_future(), ka
        )
        self._waiters.setdefault(spec.name, deque()).append(waiter)
        self._schedule()
        try:
            await waiter.future
        except BaseException:
            granted = waiter.future.done() and not waiter.future.cancelled()
            if granted and waiter.future.exception() is None:
                self._release(spec.name, ka)
            else:
                queue = self._waiters.get(spec.name)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
            self._schedule()
            raise
        model = self.loaded[spec.name]
        slot = Slot(
            engine=self,
            model=model,
            cold_load=waiter.cold,
            load_seconds=model.load_seconds if waiter.cold else 0.0,
            concurrent_at_start=model.in_flight,
            granted_at=self.clock(),
        )
        try:
            yield slot
        finally:
            self._release(spec.name, ka)
            self._schedule()

    def _memory_error(self, need: int) -> InsufficientMemory:
        return InsufficientMemory(
            f"model requires more system memory ({need / GIB:.1f} GiB) than is available "
            f"({self.memory_total / GIB:.1f} GiB)"
        )

    def _grant(self, waiter: _Waiter, model: LoadedModel) -> None:
        model.in_flight += 1
        waiter.cold = model.cold_pending
        now = self.clock()
        model.last_used = now
        model.expires_at = None if waiter.keep_alive is None else now + waiter.keep_alive
        model.session_s = waiter.keep_alive
        seen = self.counters.max_concurrent_seen
        seen[model.spec.name] = max(seen.get(model.spec.name, 0), model.in_flight)
        if not waiter.future.done():
            waiter.future.set_result(None)

    def _release(self, name: str, keep_alive: float | None) -> None:
        model = self.loaded.get(name)
        if model is None:
            return
        model.in_flight = max(model.in_flight - 1, 0)
        now = self.clock()
        model.last_used = now
        model.expires_at = None if keep_alive is None else now + keep_alive
        if model.in_flight == 0:
            if model.unload_when_idle:
                self._unload(name, "deleted" if name not in self.disk else "unload_request")
            elif model.expires_at is not None and model.expires_at <= now:
                self._unload(name, "keep_alive_0" if keep_alive == 0 else "expired")

    def _expire(self) -> None:
        now = self.clock()
        for name, model in list(self.loaded.items()):
            if (
                model.state == "ready"
                and model.in_flight == 0
                and model.expires_at is not None
                and model.expires_at <= now
            ):
                self._unload(name, "expired", at=model.expires_at)

    def _unload(self, name: str, reason: str, at: float | None = None) -> None:
        model = self.loaded.pop(name, None)
        if model is None:
            return
        self.counters.unloaded.append(
            {
                "name": name,
                "reason": reason,
                "unloaded_at": self.clock() if at is None else at,
                "context_length": model.context_length,
                "size": model.size,
            }
        )

    def _idle_in_eviction_order(self) -> list[LoadedModel]:
        """Idle models in the order Ollama unloads them: the shortest keep-alive first (a
        runner kept forever last), then by the path of the weights blob."""
        idle = [
            m
            for name, m in self.loaded.items()
            if m.state == "ready" and m.in_flight == 0 and not self._taken_for(name)
        ]
        return sorted(idle, key=_eviction_key)

    def _taken_for(self, name: str) -> bool:
        """Whether requests the scheduler took for ``name`` wait for its slots (they hold it, as
        Ollama's runner references do)."""
        queue = self._waiters.get(name)
        return bool(queue and queue[0].admitted)

    def _make_room(self, need: int, *, evict_even_if_short: bool) -> bool:
        """Evict idle models (Ollama's order) until ``need`` fits; False when it cannot.

        With ``evict_even_if_short`` the idle models are evicted even when busy ones still block
        the load (Ollama unloads idle runners first, then waits for the busy ones).
        """
        free = self.memory_total - self.memory_used
        count = len(self.loaded)
        victims: list[LoadedModel] = []
        for candidate in self._idle_in_eviction_order():
            if free >= need and count < self.max_loaded_models:
                break
            victims.append(candidate)
            free += candidate.size
            count -= 1
        fits = free >= need and count < self.max_loaded_models
        if fits or evict_even_if_short:
            for victim in victims:
                self.counters.evictions += 1
                self._unload(victim.spec.name, "evicted")
        return fits

    def _start_load(self, waiter: _Waiter, spec: ModelSpec, is_reload: bool) -> None:
        now = self.clock()
        model = LoadedModel(
            spec=spec,
            context_length=waiter.context_length,
            num_parallel=self.num_parallel,
            size=spec.loaded_size(waiter.context_length, self.num_parallel),
            loaded_at=now,
            last_used=now,
            load_seconds=self.profile.load_seconds(spec),
            is_reload=is_reload,
            session_s=waiter.keep_alive,
        )
        self.loaded[spec.name] = model
        _bump(self.counters.reloads if is_reload else self.counters.loads, spec.name)
        task = asyncio.ensure_future(self._finish_load(model))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_load(self, model: LoadedModel) -> None:
        await self.sleep(model.load_seconds)
        if self.loaded.get(model.spec.name) is not model:
            return
        model.state = "ready"
        model.last_used = self.clock()
        model.cold_pending = True
        try:
            self._schedule()
        finally:
            model.cold_pending = False

    def _schedule(self) -> None:
        """Take the waiting requests in arrival order, then grant every slot that can be granted."""
        self._expire()
        progress = True
        while progress:
            progress = False
            for name, queue in self._waiters.items():
                if queue and self._serve_queue(name, queue):
                    progress = True
            pending = sorted(
                (w for queue in self._waiters.values() for w in queue if not w.admitted),
                key=lambda w: w.seq,
            )
            for waiter in pending:
                taken = self._take(waiter)
                if taken is None:
                    break  # it waits for busy models: every later request waits behind it
                progress = progress or taken
            for name in [n for n, q in self._waiters.items() if not q]:
                del self._waiters[name]

    def _take(self, waiter: _Waiter) -> bool | None:
        """The scheduler's turn for ``waiter``: True once it is on its way (or failed), None while
        it must wait for busy models to go idle."""
        queue = self._waiters[waiter.name]
        spec = CATALOGUE[waiter.name]
        model = self.loaded.get(waiter.name)
        if model is not None and model.context_length == waiter.context_length:
            waiter.admitted = True
            return True
        if model is not None:  # another window: it reloads once its work is done
            if model.in_flight > 0 or model.state == "loading" or queue[0].admitted:
                return None
            self._unload(waiter.name, "reload")
            return self._load_for(waiter, spec, is_reload=True, queue=queue)
        return self._load_for(waiter, spec, is_reload=False, queue=queue)

    def _serve_queue(self, name: str, queue: deque[_Waiter]) -> bool:
        """Grant slots of a ready model to the requests the scheduler took, first come first."""
        model = self.loaded.get(name)
        if model is None or model.state == "loading":
            return False
        progress = False
        while (
            queue
            and queue[0].admitted
            and queue[0].context_length == model.context_length
            and model.in_flight < self.num_parallel
        ):
            self._grant(queue.popleft(), model)
            progress = True
        return progress

    def _load_for(
        self, head: _Waiter, spec: ModelSpec, *, is_reload: bool, queue: deque[_Waiter]
    ) -> bool | None:
        need = spec.loaded_size(head.context_length, self.num_parallel)
        busy = any(m.in_flight > 0 or m.state == "loading" for m in self.loaded.values())
        wait = busy and self.config.memory_wait
        if self._make_room(need, evict_even_if_short=wait):
            self._start_load(head, spec, is_reload)
            head.admitted = True
            return True
        if wait:
            return None
        queue.remove(head)
        if not head.future.done():
            head.future.set_exception(self._memory_error(need))
        return True

    # --- load / unload requests (empty prompt) ------------------------------------------------

    async def load(self, name: str, *, num_ctx: Any = None, keep_alive: Any = "default") -> Slot:
        """Load ``name`` without generating (an empty prompt); returns the finished slot."""
        async with self.slot(name, num_ctx=num_ctx, keep_alive=keep_alive) as granted:
            return granted

    def request_unload(self, name: str) -> None:
        """``keep_alive: 0`` with an empty prompt: unload now, or as soon as the model is idle."""
        self.require(name)
        key = normalize(name)
        model = self.loaded.get(key)
        if model is None:
            return
        model.expires_at = self.clock()
        if model.in_flight == 0 and model.state == "ready":
            self._unload(key, "unload_request")
        else:
            model.unload_when_idle = True

    # --- observation --------------------------------------------------------------------------

    def loaded_models(self) -> list[LoadedModel]:
        self._schedule()
        return sorted(self.loaded.values(), key=lambda m: -m.last_used)

    def queued(self) -> dict[str, int]:
        return {name: len(q) for name, q in self._waiters.items() if q}

    def reset_counters(self) -> None:
        self.counters = Counters()

    def unload_idle(self) -> None:
        for model in self._idle_in_eviction_order():
            self._unload(model.spec.name, "reset")

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _eviction_key(model: LoadedModel) -> tuple[float, str]:
    session = math.inf if model.session_s is None or model.session_s < 0 else model.session_s
    return (session, model.spec.blob_file)
