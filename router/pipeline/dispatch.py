"""The one pipeline every front end uses: choose a node, take a slot, forward, stream, record.

A front end hands in an ``InferenceRequest`` (already in Ollama's native shape, router-only fields
removed) and gets back a ``Routed`` answer whose headers are final: retries on other nodes, model
fallbacks, VRAM fallback and auto-pull all happen before the first byte reaches the client. After
that, a failure ends the stream with an error and the trace says ``incomplete``. The pipeline
never parses client formats (front ends translate) and never renders HTTP errors (it raises typed
``HerdError``s).

Owns ``Pipeline``, the order of things: rank the nodes for each wanted model (the client's, then
its fallbacks), try a substitute first when one serves better (``substitutes``), wait in the
model's line for the best node (``wait_line``) or take a queue slot, forward the attempt
(``forward``), retry elsewhere on a failure before the first byte, auto-pull a model missing
everywhere (``pulls``), and refuse with the reason when nothing served (``refusals``). Every
attempt's trace row is written by ``attempt_traces``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from herd_contract.model_names import normalize
from router.config import RouterSettings, RuntimeToggles
from router.errors import (
    ClientGone,
    HerdError,
    NoCapacity,
    UpstreamFailure,
)
from router.pipeline.attempt import Attempt, Failures
from router.pipeline.attempt_traces import AttemptTraces
from router.pipeline.breakers import Breakers
from router.pipeline.candidates import Choice, Ranker, Ranking
from router.pipeline.forward import Forwarder
from router.pipeline.journal import TraceJournal
from router.pipeline.pulls import PullCoordinator
from router.pipeline.refusals import refusal
from router.pipeline.request import InferenceRequest
from router.pipeline.routed import Routed
from router.pipeline.substitutes import Substitutes
from router.pipeline.wait_line import WaitLine
from router.queues import QueueBoard, QueueFull
from router.traces import TraceRecord
from router.upstream import AttemptFailed, Upstream

log = logging.getLogger("herd.dispatch")


class Pipeline:
    """Route a request: rank, take a slot, forward, retry elsewhere, record every attempt."""

    def __init__(
        self,
        settings: RouterSettings,
        clock: Callable[[], float],
        queues: QueueBoard,
        ranker: Ranker,
        upstream: Upstream,
        pulls: PullCoordinator,
        journal: TraceJournal,
        breakers: Breakers,
        *,
        ollama_version: Callable[[str], str] = lambda node_id: "",
    ) -> None:
        self.settings = settings
        self.breakers = breakers
        self.clock = clock
        self.queues = queues
        self.ranker = ranker
        self.pulls = pulls
        self.journal = journal
        self.line = WaitLine(ranker, queues, settings.max_queue_per_model)
        """Where requests wait for the best node (late binding)."""
        self.forwarder = Forwarder(
            settings, clock, ranker, upstream, journal, ollama_version, resume=self.resume
        )
        self.substitutes = Substitutes(settings, ranker)
        self.traces = AttemptTraces(journal)

    @property
    def toggles(self) -> RuntimeToggles:
        return self.settings.toggles

    # --- entry points -------------------------------------------------------------------------

    async def open(self, request: InferenceRequest) -> Routed:
        """Route ``request`` and return once the answer has begun (or raise a ``HerdError``).

        When the client leaves first (``request.client_gone`` is set), routing stops at once
        wherever it is (waiting in a queue, or for a node's first byte, whose request is closed),
        the slot is freed, the trace says ``client_disconnected`` and ``ClientGone`` is raised.
        """
        gone = request.client_gone
        if gone is None:
            return await self._open_traced(request)
        task = asyncio.current_task()
        assert task is not None
        settled = False

        def leave(_: object) -> None:
            # Runs a loop turn after the client left: routing stops wherever it waits.
            if not settled:
                request.left = True
                task.cancel()

        gone.add_done_callback(leave)
        routed: Routed | None = None
        try:
            routed = await self._open_traced(request)
        except asyncio.CancelledError:
            if not request.left:
                raise
            task.uncancel()
        finally:
            settled = True
            gone.remove_done_callback(leave)
        if request.left or gone.done():
            if routed is not None:
                await routed.close(disconnected=True)
            elif not request.left_traced:
                self.traces.left_while_queued(request)
            error = ClientGone("the client disconnected before the answer began")
            error.traced = True
            raise error
        assert routed is not None
        return routed

    async def _open_traced(self, request: InferenceRequest) -> Routed:
        try:
            return await self._open(request)
        except HerdError as exc:
            if not exc.traced:
                self.traces.rejected(
                    request.request_id,
                    request.model,
                    request.kind,
                    request.api,
                    exc,
                    request.client_ip,
                    request.tags,
                )
            raise

    async def _open(self, request: InferenceRequest) -> Routed:
        primary = normalize(request.model)
        wanted = [primary] + [normalize(m) for m in request.fallback_models if m.strip()]
        retries = 0
        last_failure: AttemptFailed | None = None
        failures = Failures()
        unknown: list[str] = []
        self.ranker.demand.note(primary, self.clock())
        for position, model in enumerate(wanted):
            excluded = self.breakers.blocked()
            pulled = False
            while retries <= self.toggles.max_retries:
                ranking = self.ranker.rank(model, request, excluded)
                self.substitutes.refuse_too_long(model, request, ranking)
                substitute = (
                    self.substitutes.substitute(model, request, ranking) if position == 0 else None
                )
                if substitute is not None:
                    stand_in, stand_in_ranking, why = substitute
                    result = await self._try_ranked(
                        request, stand_in, stand_in_ranking, retries, primary, why, failures, None
                    )
                    if isinstance(result, Routed):
                        return result
                    last_failure = result[1]
                    retries += 1
                # Models wait in the router's line for the best node; other backends' jobs go
                # straight to their queue (their choices are not estimated by the scorer).
                wait_line: frozenset[str] | None = (
                    None if request.kind in ("image", "transcribe") else frozenset(excluded)
                )
                if not ranking.choices and ranking.blocked:
                    # Busy models hold the memory it needs: wait on that node as Ollama would,
                    # rather than refusing (its queue and the reaper still bound the wait).
                    ranking.choices = ranking.blocked[:1]
                    wait_line = None
                if not ranking.choices:
                    pullable = request.kind not in ("image", "transcribe")
                    if (
                        not ranking.known_anywhere
                        and self.toggles.auto_pull
                        and pullable
                        and not pulled
                    ):
                        pulled = True
                        if await self.pulls.ensure(model):
                            continue
                    if not ranking.known_anywhere:
                        unknown.append(model)
                    break
                reason = "fallback_models" if position > 0 else None
                attempt = self._try_ranked(
                    request, model, ranking, retries, primary, reason, failures, wait_line
                )
                del ranking  # a ranking of every node: not kept while the answer is awaited
                result = await attempt
                if isinstance(result, Routed):
                    return result
                failed_node, failure = result
                last_failure = failure
                excluded.add(failed_node)
                retries += 1
                if not failure.retryable:
                    error = UpstreamFailure(failure.message, status=failure.status or 502)
                    error.traced = True  # the failed attempt's trace says it
                    raise error
        rejection = refusal(self.ranker, request, primary, wanted, unknown, last_failure, retries)
        if failures.pending is not None:
            self.traces.final_failure(request, failures, rejection)
        raise rejection

    async def _try_ranked(
        self,
        request: InferenceRequest,
        model: str,
        ranking: Ranking,
        retries: int,
        original: str,
        fallback_reason: str | None,
        failures: Failures,
        wait_line: frozenset[str] | None,
    ) -> Routed | tuple[str, AttemptFailed]:
        """One attempt: through the wait line (``wait_line`` holds the nodes to exclude), or
        straight onto the ranking's first queue with room when ``wait_line`` is None."""
        waiting = time.perf_counter()
        if wait_line is None:
            attempt = await self._take_slot(ranking.choices, model, request.started)
        else:
            attempt = await self._wait_for_node(request, model, wait_line, ranking)
        self.journal.metrics.waited(model, time.perf_counter() - waiting)
        choice = attempt.choice
        if not choice.hot and choice.backend == "ollama":  # the next rankings must know
            self.ranker.loading(choice.node_id, model, choice.evicts)
        trace = self.traces.new(request, attempt, original, retries, fallback_reason)
        trace.candidates = ranking.explain(attempt.choice.node_id)
        del ranking  # not kept while the node answers (it holds every node's estimate)
        self.breakers.attempting(attempt.choice.node_id)
        try:
            routed = await self.forwarder.forward(request, attempt, trace)
        except AttemptFailed as failure:
            self._count_failure(attempt.choice.node_id, failure)
            return self._failed(request, attempt, trace, failure, failures)
        except asyncio.CancelledError:
            if not attempt.slot.reaped:
                await self._abandon(attempt)
                if request.left:
                    self.traces.left_waiting(request, trace, failures)
                raise
            # The zombie reaper stopped an attempt that made no progress before its first byte:
            # nothing reached the client yet, so it is a failure like a timeout, and retryable.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._abandon(attempt)
            trace.reaped = True
            stalled = AttemptFailed(
                f"no answer from the node for {self.toggles.reaper_timeout_s:g}s (reaped)",
                retryable=True,
                kind="timeout",
            )
            return self._failed(request, attempt, trace, stalled, failures)
        except BaseException:
            await self._abandon(attempt)
            raise
        self.breakers.succeeded(attempt.choice.node_id)
        self.traces.retried(failures)
        return routed

    async def resume(self, request: InferenceRequest, excluded: frozenset[str]) -> Routed | None:
        """Go on with an answer whose node failed mid-stream: ``request`` (the continued one,
        see ``resumption``) on the best Ollama serving its model outside ``excluded`` (it is
        Ollama that continues a trailing assistant message), tried elsewhere on a failure
        before the first byte; None when no node took it."""
        failures = Failures()
        left_out = set(excluded) | self.breakers.blocked()
        for retries in range(self.toggles.max_retries + 1):
            ranking = self.ranker.rank(request.model, request, left_out)
            ranking.choices = [c for c in ranking.choices if c.backend == "ollama"]
            line: frozenset[str] | None = frozenset(left_out)
            if not ranking.choices and ranking.blocked:  # wait where busy models hold memory
                ranking.choices, line = ranking.blocked[:1], None
            if not ranking.choices:
                rejected = sorted(ranking.rejected.items())
                log.info(
                    "no node to resume on: %s",
                    "; ".join(f"{node}: {why}" for node, why in rejected) or "no other node",
                    extra={"request_id": request.request_id},
                )
                break
            model = request.model
            try:
                result = await self._try_ranked(
                    request, model, ranking, retries, model, None, failures, line
                )
            except HerdError:  # every queue, or the model's wait line, is full
                break
            if isinstance(result, Routed):
                return result
            left_out.add(result[0])
        self.traces.retried(failures)
        return None

    def _count_failure(self, node_id: str, failure: AttemptFailed) -> None:
        if self.breakers.failed(node_id, failure.kind):
            log.warning(
                "circuit open for %s after %d failures before the first byte (last: %s)",
                node_id,
                self.breakers.threshold,
                failure.message,
                extra={"node_id": node_id, "console": True},
            )

    async def _abandon(self, attempt: Attempt) -> None:
        attempt.slot.release(ok=False)
        if attempt.response is not None:
            await attempt.response.aclose()
            attempt.response = None

    def _failed(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        failure: AttemptFailed,
        failures: Failures,
    ) -> tuple[str, AttemptFailed]:
        """Release a failed attempt's slot and keep its trace; the node and why, to retry."""
        attempt.slot.release(ok=False)
        self.traces.failed(request, attempt, trace, failure, failures)
        return attempt.choice.node_id, failure

    async def _take_slot(self, choices: Sequence[Choice], model: str, started: float) -> Attempt:
        """A slot on the best candidate whose queue has room; 503 when every queue is full."""
        for choice in choices:
            queue = self.queues.queue(choice.node_id, model, choice.concurrency)
            try:
                slot = await queue.acquire()
            except QueueFull:
                continue
            return Attempt(choice=choice, model=model, slot=slot, started=started)
        raise NoCapacity(f"every queue for {model} is full; try again shortly", retry_after_s=2)

    async def _wait_for_node(
        self, request: InferenceRequest, model: str, excluded: frozenset[str], ranking: Ranking
    ) -> Attempt:
        """Late binding: wait in the model's line until the best node can take the request
        (``ranking``: the one just made for it, which the line's first plan may reuse)."""
        try:
            result = await self.line.take(model, request, excluded, ranking)
        except QueueFull:
            raise NoCapacity(
                f"the wait line for {model} is full; try again shortly", retry_after_s=2
            ) from None
        if isinstance(result, Ranking):
            if result.blocked:  # busy models hold the memory: wait at that node, as Ollama does
                return await self._take_slot(result.blocked[:1], model, request.started)
            raise NoCapacity(
                f"no node can serve {model} right now: "
                + self.ranker.explain_rejections(model, request),
                retry_after_s=5,
            )
        choice, slot = result
        return Attempt(choice=choice, model=model, slot=slot, started=request.started)
