"""From the registry to the scorer and back: the candidates for one request.

Keeps one ``scoring.NodeSnapshot`` per node, rebuilt only when a heartbeat changed it, and per
request combines the snapshots with the live queue loads, the learned speeds, recent demand and
the session map to ask the pure scorer for a ranking. Also owns the session memory (conversation
-> node) and the choice of a VRAM-fallback stand-in. Never forwards anything, never records
traces.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from herd_contract.heartbeat import BackendKind, NodeStatus
from herd_contract.model_names import normalize
from herd_contract.units import GB
from router import model_size, scoring
from router.backends import placement
from router.config import RouterSettings
from router.demand import Demand
from router.latency import Run, SpeedHistory
from router.pipeline.loads_under_way import Load, LoadsUnderWay
from router.pipeline.request import InferenceRequest
from router.queues import QueueBoard
from router.registry import NodeRecord, Registry
from router.scoring.speed import DEFAULT_OUTPUT_TOKENS, load_seconds

SESSION_MEMORY = 10_000
"""Conversations remembered for affinity (least recently used forgotten first)."""
VRAM_FALLBACK_MIN_SIZE_RATIO = 0.5
"""A substitute must be at least half the requested model's size: never a much smaller model."""
VRAM_FALLBACK_MAX_SIZE_RATIO = 2.0
"""Nor more than twice its size: a much bigger model answers far slower than the one asked for."""
VRAM_FALLBACK_MARGIN = 2.0
"""A stand-in must be expected to finish at least this many times sooner than the model asked for,
"""
VRAM_FALLBACK_MARGIN_S = 10.0
"""and at least this many seconds sooner: a stand-in is a last resort, not a shortcut."""
EXPLAIN_RANKED = 10
"""A trace names this many of the ranked nodes, best first (and the chosen one, always)."""
EXPLAIN_REJECTED = 10
"""and this many of the rejected ones (by node id); the rest are counted."""


@dataclass(slots=True)
class Choice:
    """A node a request may go to, with its estimate (read-only by convention; not frozen,
    because a frozen dataclass costs microseconds and the ranker builds one per node)."""

    node_id: str
    ollama_url: str
    estimate_s: float
    """Expected seconds to the last token there (``X-Fleet-Score``)."""
    breakdown: Mapping[str, float]
    """Seconds per signal (the scorer's ``SIGNALS`` for an Ollama choice)."""
    hot: bool
    concurrency: int
    loaded_context: int
    session_key: str | None = None
    run_s: float = 0.0
    free_slot: bool = True
    num_ctx: int | None = None
    """A larger window to ask for: the prompt does not fit the one it would run in."""
    backend: BackendKind = "ollama"
    """Which kind of server ``ollama_url`` is (the URL of an ``openai`` server, or the agent's
    job gateway for ``image`` and ``stt``)."""
    adapter: str = ""
    """The backend's adapter for choices among the nodes' backends (``mflux``, ``openai``,
    ``ollama``...); "" for the node's default Ollama. An ``image`` choice with the adapter
    ``ollama`` is the node's Ollama itself, not its gateway."""
    evicts: tuple[str, ...] = ()
    """Idle models the node unloads to load this one (a cold choice), in Ollama's order."""


CONTENTION_S = 5.0
"""How long a node found short of memory for a model counts as contended (``short_of_memory``)."""
CONTENTION_FACTOR = 2.0
"""A node blocked for a model counts when waiting there is expected at most this many times the
best node's estimate: somewhere the request would nearly rather be."""

_FOR_NOW = (scoring.INSUFFICIENT, scoring.CRITICAL_PRESSURE, scoring.BLOCKED)
"""Rejections that may lift while a request waits (memory frees)."""


@dataclass(slots=True)
class Ranking:
    choices: Sequence[Choice]
    """Best first (an Ollama ranking builds each ``Choice`` when it is first read)."""
    rejected: dict[str, str] = field(default_factory=dict)
    any_hot: bool = False
    known_anywhere: bool = False
    """Some node, in any state, has the model on disk or loaded."""
    blocked: Sequence[Choice] = field(default_factory=list)
    """Nodes that could load the model once their busy models finish, soonest first (the
    estimate includes that wait). Ollama queues such a request until memory frees; the router
    may send it there to wait."""

    def sole_node(self) -> str | None:
        """The node, when exactly one can ever serve the request here: the model is hot on the
        only ranked node, no other node waits for memory to load it, and every other node is
        out for good (the model is not there, too large, excluded, offline or draining), not for
        now (short of memory). Late binding gains nothing for such a request: it will go there."""
        if len(self.choices) != 1:
            return None
        only = self.choices[0]
        if not only.hot or any(b.node_id != only.node_id for b in self.blocked):
            return None
        if any(reason.startswith(_FOR_NOW) for reason in self.rejected.values()):
            return None
        return only.node_id

    def explain(self, chosen: str) -> list[dict[str, Any]]:
        """The nodes weighed, for the trace: the best ``EXPLAIN_RANKED`` ranked ones (and the
        chosen one) with their estimate and breakdown, then up to ``EXPLAIN_REJECTED`` rejected
        ones with the reason, then, when some were left out, one ``not shown`` entry counting
        them (a trace of a 500-node fleet naming every node cost 1.5 ms and 0.5 MB a request)."""
        shown = list(self.choices[:EXPLAIN_RANKED])
        if all(c.node_id != chosen for c in shown):
            shown += [c for c in self.choices[EXPLAIN_RANKED:] if c.node_id == chosen]
        ranked = [
            {
                "node_id": c.node_id,
                "estimate_s": round(c.estimate_s, 4),
                "breakdown": {k: round(v, 4) for k, v in _pairs(c.breakdown)},
                "outcome": "chosen" if c.node_id == chosen else "ranked lower",
            }
            for c in shown
        ]
        rejected = [
            {"node_id": node_id, "outcome": "rejected", "reason": reason}
            for node_id, reason in sorted(self.rejected.items())[:EXPLAIN_REJECTED]
        ]
        more_ranked = len(self.choices) - len(ranked)
        more_rejected = len(self.rejected) - len(rejected)
        if more_ranked or more_rejected:
            rejected.append(
                {
                    "node_id": f"+{more_ranked + more_rejected} more",
                    "outcome": "not shown",
                    "reason": f"{more_ranked} more ranked lower, {more_rejected} more rejected",
                }
            )
        return ranked + rejected


class Ranker:
    """The candidates for a request, from the registry's nodes, the live queues and history."""

    def __init__(
        self,
        registry: Registry,
        queues: QueueBoard,
        settings: RouterSettings,
        clock: Callable[[], float],
        latency: SpeedHistory | None = None,
    ) -> None:
        self.registry = registry
        self.queues = queues
        self.settings = settings
        """Read at every decision: the runtime toggles change while the router runs."""
        self.clock = clock
        self.speeds = latency or SpeedHistory()
        self.demand = Demand()
        self._snapshots: dict[str, tuple[int, str, scoring.NodeSnapshot]] = {}
        self._fleet: _Fleet | None = None
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._facts_version = -1
        self._facts: dict[str, tuple[int, model_size.Category]] = {}
        self._known: set[str] = set()
        self._short_of_memory: dict[str, tuple[str, float]] = {}
        """Per node, a model a recent ranking found it short of memory for while it was nearly
        the best place for it (blocked by busy models), and when."""
        self._loads = LoadsUnderWay(lambda node_id, model: queues.depth(node_id, model)[1])
        """The loads the router sent that no heartbeat shows yet: the rankings in between must
        not count on the node's last report."""

    # --- inputs -------------------------------------------------------------------------------

    def _nodes(self, now: float) -> _Fleet:
        """A snapshot per routable node, with its URL: kept until the registry changes or some
        node's status is due to change with time (its heartbeat late), then rebuilt; a node's
        snapshot is rebuilt only after a new heartbeat."""
        fleet = self._fleet
        registry = self.registry
        if (
            fleet is not None
            and fleet.version == registry.version
            and fleet.since <= now < fleet.until
        ):
            return fleet
        routable = registry.routable(now)
        snapshots: list[scoring.NodeSnapshot] = []
        urls: dict[str, str] = {}
        until = float("inf")
        for record, status in routable:
            cached = self._snapshots.get(record.node_id)
            if cached is None or cached[0] != record.generation or cached[1] != status:
                snap = scoring.snapshot_from_heartbeat(
                    record.heartbeat,
                    state=status,
                    cpu_history=record.cpu_history,
                    recently_unloaded=record.recently_unloaded,
                    expected_busy_pct=registry.weekly.expected_next_hour(record.node_id, now),
                )
                cached = (record.generation, status, snap)
                self._snapshots[record.node_id] = cached
            snap = cached[2]
            if self._loads:  # loads the router sent that this node does not show yet
                snap, hold = self._loads.view(snap, record.last_seen, now)
                until = min(until, hold)
            snapshots.append(snap)
            urls[record.node_id] = record.ollama_url
            if status == "online":
                until = min(until, record.last_seen + registry.degraded_after_s)
            else:
                until = min(until, record.last_seen + registry.offline_after_s)
        self._fleet = fleet = _Fleet(registry.version, now, until, routable, snapshots, urls)
        return fleet

    def loading(self, node_id: str, model: str, evicts: Sequence[str]) -> None:
        """The router sent ``node_id`` a request that loads ``model``, unloading ``evicts``:
        until a heartbeat shows the load, rank as if it were done (the model holds its memory,
        busy, ready when its load time is up) and the models it unloads were gone."""
        base = self._snapshots.get(node_id)
        if base is None:
            return
        snap = base[2]
        if self._loads.has(node_id, model) or model in snap.loaded:
            return
        now = self.clock()
        need_gb, weights = scoring.cold_need(snap, model, self._model_facts(model)[0] / GB)
        speeds = self.speeds.speeds()
        speed = speeds.models.get((node_id, model))
        load_s = load_seconds(speed, speeds.nodes.get(node_id), weights)
        ready_at = now + load_s * speeds.wall_per_reported
        self._loads.add(node_id, Load(model, tuple(evicts), need_gb, now, ready_at))
        self._fleet = None

    def routable(self) -> list[tuple[NodeRecord, NodeStatus]]:
        """The registry's routable nodes now, from the same view as the last ranking (kept until
        the registry changes or a status is due to change)."""
        return self._nodes(self.clock()).routable

    def _route_request(
        self, model: str, request: InferenceRequest, excluded: set[str] | frozenset[str]
    ) -> scoring.RouteRequest:
        body = request.body
        raw_options = body.get("options")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        num_ctx = options.get("num_ctx") if isinstance(options.get("num_ctx"), int) else None
        num_predict = options.get("num_predict")
        if not isinstance(num_predict, int) or num_predict <= 0:
            typical = self.speeds.speeds().output_tokens.get(model)
            num_predict = round(typical) if typical else DEFAULT_OUTPUT_TOKENS
        size, category = self._model_facts(model)
        return scoring.RouteRequest(
            model=model,
            size_bytes=size,
            category=category,
            prompt_tokens=estimate_prompt_tokens(body),
            output_tokens=num_predict,
            num_ctx=num_ctx,
            session_key=session_key(model, body)
            if self.settings.toggles.session_affinity
            else None,
            excluded=frozenset(excluded),
            context_protection=self.settings.toggles.context_protection,
        )

    def _refresh_fleet_facts(self) -> None:
        """Drop what was derived from heartbeats once the registry changed."""
        version = self.registry.version
        if version != self._facts_version:
            self._facts_version = version
            self._facts.clear()
            known: set[str] = set()
            for record in self.registry.records():
                known |= record.available_models
                known |= record.loaded_models
                known |= {normalize(m) for b in record.heartbeat.backends for m in b.models}
            self._known = known

    def _model_facts(self, model: str) -> tuple[int, model_size.Category]:
        """Pessimistic size and category from what any node says about the model (memoised
        until the next heartbeat changes the registry)."""
        self._refresh_fleet_facts()
        found = self._facts.get(model)
        if found is None:
            found = self._facts[model] = self._compute_facts(model)
        return found

    def _compute_facts(self, model: str) -> tuple[int, model_size.Category]:
        for record in self.registry.records():
            for entry in record.heartbeat.ollama.models_available:
                if normalize(entry.name) == model:
                    details = entry.details
                    size = model_size.estimate(
                        model,
                        parameter_size=details.parameter_size,
                        quantization_level=details.quantization_level,
                        file_bytes=entry.size,
                    )
                    return size, model_size.category_of(model, details.family)
        return model_size.estimate(model), model_size.category_of(model)

    # --- decisions ----------------------------------------------------------------------------

    def rank(
        self,
        model: str,
        request: InferenceRequest,
        excluded: set[str] | frozenset[str],
        ahead: Mapping[str, int] | None = None,
    ) -> Ranking:
        """The ranked candidates for ``request``; ``ahead`` counts, per node, requests of the
        router's wait line that come first and are waiting for that node."""
        if request.kind in ("image", "transcribe"):
            choices = self._backend_choices(model, request, excluded)
            return Ranking(choices=choices, known_anywhere=self.known_anywhere(model))
        ranking = self._rank_ollama(model, request, excluded, ahead)
        backends = self._backend_choices(model, request, excluded)
        if backends:
            ranking.choices = [*ranking.choices, *backends]
        return ranking

    def _backend_choices(
        self, model: str, request: InferenceRequest, excluded: set[str] | frozenset[str]
    ) -> list[Choice]:
        """Candidates among the nodes' non-Ollama backends for this request's kind."""
        found = placement.backend_choices(
            self.routable(), model, request.kind, self.queues.depths(),
            set(excluded), self.speeds.job_seconds(),
        )  # fmt: skip
        return [
            Choice(
                node_id=c.node_id,
                ollama_url=c.url,
                estimate_s=c.estimate_s,
                breakdown={"backend_load": c.load, "estimate_s": c.estimate_s},
                hot=True,
                concurrency=c.capacity,
                loaded_context=0,
                backend=c.kind,
                adapter=c.adapter,
            )
            for c in found
        ]

    def kinds_serving(self, model: str) -> set[str]:
        """``llm``, ``image``, ``stt``: what serves ``model`` somewhere in the fleet."""
        return placement.kinds_serving(self.registry.records(), model)

    def _rank_ollama(
        self,
        model: str,
        request: InferenceRequest,
        excluded: set[str] | frozenset[str],
        ahead: Mapping[str, int] | None,
    ) -> Ranking:
        now = self.clock()
        fleet = self._nodes(now)
        route = self._route_request(model, request, excluded)
        depths: Mapping[tuple[str, str], scoring.QueueLoad] = self.queues.depths()
        decision = scoring.rank(
            fleet.snapshots,
            route,
            now=now,
            queues=_Ahead(depths, model, ahead) if ahead else depths,
            speeds=self.speeds.speeds(),
            sessions=self._sessions,
            demand=self.demand.rates(now),
        )
        if decision.waiting:
            best = decision.ranked[0].estimate_s if decision.ranked else float("inf")
            for candidate in decision.waiting:
                if candidate.estimate_s <= CONTENTION_FACTOR * best:
                    self._short_of_memory[candidate.node_id] = (model, now)
        return Ranking(
            choices=Choices(decision.ranked, fleet.urls, route.session_key),
            rejected=decision.rejected,
            any_hot=any(c.hot for c in decision.ranked),
            known_anywhere=self.known_anywhere(model),
            blocked=Choices(decision.waiting, fleet.urls, route.session_key),
        )

    def short_of_memory(self, node_id: str, other_than: str) -> bool:
        """Whether a model other than ``other_than`` was recently (``CONTENTION_S``) found
        waiting for memory busy models hold on ``node_id``, where it would nearly rather be."""
        found = self._short_of_memory.get(node_id)
        return (
            found is not None and found[0] != other_than and self.clock() - found[1] < CONTENTION_S
        )

    def known_anywhere(self, model: str) -> bool:
        self._refresh_fleet_facts()
        return model in self._known

    def vram_substitute(
        self, model: str, request: InferenceRequest, ranking: Ranking
    ) -> tuple[str, Ranking] | None:
        """A loaded stand-in of the same category, when it finishes far sooner than the model asked.

        By the same estimate as routing: only a model already loaded, on a node with a free slot
        (never onto a queue), of the same category and about the same size (half to twice), never
        a larger model that runs slower than the one asked for would, and only when it is expected
        to finish ``VRAM_FALLBACK_MARGIN`` times and ``VRAM_FALLBACK_MARGIN_S`` sooner than the
        requested model's best node (which may have to load it, or wait for memory). An unknown
        model is pulled or refused, never silently replaced; an image or a transcript never
        comes from another model than the one asked for.
        """
        if not ranking.known_anywhere or request.kind in ("image", "transcribe"):
            return None
        wanted_size, wanted_category = self._model_facts(model)
        options = ranking.choices or ranking.blocked
        best_wanted = options[0] if options else None
        if best_wanted is not None and best_wanted.hot:
            return None
        limit = best_wanted.estimate_s if best_wanted is not None else float("inf")
        limit = min(limit / VRAM_FALLBACK_MARGIN, limit - VRAM_FALLBACK_MARGIN_S)
        best: tuple[float, str, Ranking] | None = None
        for name in self._loaded_models(model):
            size, category = self._model_facts(name)
            if category != wanted_category or not (
                wanted_size * VRAM_FALLBACK_MIN_SIZE_RATIO
                <= size
                <= wanted_size * VRAM_FALLBACK_MAX_SIZE_RATIO
            ):
                continue
            candidate = self.rank(name, request, set())
            usable = [
                c
                for c in candidate.choices
                if c.hot
                and c.free_slot
                and c.estimate_s < limit
                and not (
                    size > wanted_size and best_wanted is not None and c.run_s > best_wanted.run_s
                )
            ]
            if usable and (best is None or usable[0].estimate_s < best[0]):
                candidate.choices = usable
                best = (usable[0].estimate_s, name, candidate)
        return (best[1], best[2]) if best else None

    def _loaded_models(self, model: str) -> list[str]:
        """Every model loaded on a routable node, except ``model``, sorted."""
        names: set[str] = set()
        for record, _status in self.routable():
            names |= record.loaded_models
        names.discard(model)
        return sorted(names)

    def explain_rejections(self, model: str, request: InferenceRequest) -> str:
        ranking = self.rank(model, request, set())
        if not ranking.rejected:
            return "no node is online"
        return "; ".join(f"{node}: {why}" for node, why in sorted(ranking.rejected.items()))

    # --- feedback -----------------------------------------------------------------------------

    def observe(self, node_id: str, model: str, final: dict[str, Any], wall_s: float) -> None:
        """Learn from the durations Ollama reported at the end of one answer (``wall_s``: the
        wall-clock seconds from dispatch to its end)."""
        record = self.registry.get(node_id)
        weights = 0
        if record is not None:
            for entry in record.heartbeat.ollama.models_available:
                if normalize(entry.name) == model:
                    weights = entry.size
                    break
        self.speeds.observe(node_id, model, Run.from_final(float(weights), final, wall_s))

    def observe_job(self, node_id: str, model: str, seconds: float) -> None:
        """Learn how long one job took on a backend other than the node's default Ollama."""
        self.speeds.observe_job(node_id, model, seconds)

    def remember_session(self, key: str | None, node_id: str) -> None:
        if key is None:
            return
        self._sessions[key] = node_id
        self._sessions.move_to_end(key)
        while len(self._sessions) > SESSION_MEMORY:
            self._sessions.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Fleet:
    """The routable nodes as of registry ``version``, valid from ``since`` until ``until`` (when
    the first of them is due to turn degraded or offline without a heartbeat)."""

    version: int
    since: float
    until: float
    routable: list[tuple[NodeRecord, NodeStatus]]
    snapshots: list[scoring.NodeSnapshot]
    urls: dict[str, str]


def _pairs(breakdown: Mapping[str, float]) -> Iterable[tuple[str, float]]:
    if isinstance(breakdown, scoring.Breakdown):
        return zip(scoring.SIGNALS, breakdown.terms, strict=True)
    return breakdown.items()


class Choices(Sequence[Choice]):
    """The scorer's candidates as choices, each built when first read: a request mostly reads
    the first few, and a ranking of 500 nodes built all of them in a millisecond (and held them
    while the request waited for its first byte)."""

    __slots__ = ("_built", "_candidates", "_session", "_urls")

    def __init__(
        self, candidates: list[scoring.Candidate], urls: dict[str, str], session: str | None
    ) -> None:
        self._candidates = candidates
        self._urls = urls
        self._session = session
        self._built: list[Choice | None] = [None] * len(candidates)

    def __len__(self) -> int:
        return len(self._candidates)

    @overload
    def __getitem__(self, index: int) -> Choice: ...
    @overload
    def __getitem__(self, index: slice) -> list[Choice]: ...
    def __getitem__(self, index: int | slice) -> Choice | list[Choice]:
        if isinstance(index, slice):
            return [self._choice(i) for i in range(*index.indices(len(self._candidates)))]
        return self._choice(index if index >= 0 else index + len(self._candidates))

    def __iter__(self) -> Iterator[Choice]:
        return (self._choice(i) for i in range(len(self._candidates)))

    def _choice(self, i: int) -> Choice:
        built = self._built[i]
        if built is None:
            c = self._candidates[i]
            built = self._built[i] = Choice(
                node_id=c.node_id,
                ollama_url=self._urls[c.node_id],
                estimate_s=c.estimate_s,
                breakdown=scoring.Breakdown(c.terms),
                hot=c.hot,
                concurrency=c.parallel,
                loaded_context=c.loaded_context,
                session_key=self._session,
                run_s=c.run_s,
                free_slot=c.queue_depth < c.parallel,
                num_ctx=c.num_ctx,
                evicts=c.evicts,
            )
        return built


class _Ahead(Mapping[tuple[str, str], scoring.QueueLoad]):
    """The live queue loads, with the wait line's earlier requests counted as pending."""

    __slots__ = ("_ahead", "_base", "_model")

    def __init__(
        self,
        base: Mapping[tuple[str, str], scoring.QueueLoad],
        model: str,
        ahead: Mapping[str, int],
    ) -> None:
        self._base = base
        self._model = model
        self._ahead = ahead

    def __getitem__(self, key: tuple[str, str]) -> scoring.QueueLoad:
        found: scoring.QueueLoad | None = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        load = self._base.get(key, default)
        extra = self._ahead.get(key[0], 0) if key[1] == self._model else 0
        if not extra:
            return load
        pending, in_flight, elapsed = load if load is not None else (0, 0, 0.0)
        return (pending + extra, in_flight, elapsed)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def session_key(model: str, body: dict[str, Any]) -> str | None:
    """A key shared by every turn of one conversation: the model and its opening messages.

    The opening (system prompt and first user message) stays the same as a conversation grows, and
    it is what the node's prompt cache holds.
    """
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        opening: list[Any] = []
        for message in messages[:3]:
            if not isinstance(message, dict):
                break
            opening.append([message.get("role"), message.get("content")])
            if message.get("role") == "user":
                break
        seed = json.dumps(opening, sort_keys=True, default=str)
    elif isinstance(body.get("prompt"), str) and body.get("prompt"):
        seed = (body.get("system") or "") + body["prompt"][:512]
    else:
        return None
    return hashlib.blake2b(f"{model}\0{seed}".encode(), digest_size=12).hexdigest()


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """About four characters a token: enough to tell whether a context window will hold it."""
    chars = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                chars += len(message["content"])
    for key in ("prompt", "system", "suffix"):
        if isinstance(body.get(key), str):
            chars += len(body[key])
    return chars // 4
