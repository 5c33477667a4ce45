"""Traffic checks over the window's ``TrafficStats``: VRAM and model fallbacks, context
protection, zombie reaps, model thrashing, timeouts, errors, retries, client disconnects and
incomplete streams.

Owns those checks' logic and wording. Rate checks stay silent below ``MIN_REQUESTS_FOR_RATES``.
Checks over one counter state only their ids, thresholds and wording; ``_rate_check`` and
``_counter_finding`` turn those into the finding. It must never read a clock, the network, the
database or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .findings import pct, rate_severity, window_text
from .model import Findings, HealthCheck, HealthInputs, Severity, TrafficStats, ratio
from .registry import health_check
from .thresholds import (
    CONTEXT_PROTECTION_MIN_COUNT,
    CONTEXT_PROTECTION_RATE_WARNING,
    DISCONNECT_MIN_COUNT,
    DISCONNECT_RATE_INFO,
    DISCONNECT_RATE_WARNING,
    ERROR_MIN_COUNT,
    ERROR_RATE_CRITICAL,
    ERROR_RATE_WARNING,
    INCOMPLETE_MIN_COUNT,
    INCOMPLETE_RATE_CRITICAL,
    INCOMPLETE_RATE_WARNING,
    MIN_REQUESTS_FOR_RATES,
    MODEL_FALLBACK_MIN_COUNT,
    MODEL_FALLBACK_RATE_INFO,
    MODEL_FALLBACK_RATE_WARNING,
    RETRY_MIN_COUNT,
    RETRY_RATE_CRITICAL,
    RETRY_RATE_WARNING,
    THRASH_CRITICAL,
    THRASH_WARNING,
    TIMEOUT_MIN_COUNT,
    TIMEOUT_RATE_CRITICAL,
    TIMEOUT_RATE_WARNING,
    VRAM_FALLBACK_MIN_COUNT,
    VRAM_FALLBACK_RATE_INFO,
    VRAM_FALLBACK_RATE_WARNING,
    ZOMBIE_COUNT_WARNING,
    ZOMBIE_MIN_COUNT,
    ZOMBIE_RATE_CRITICAL,
    ZOMBIE_RATE_WARNING,
)


def _counter_finding(
    t: TrafficStats,
    counter: str,
    severity: Severity | None,
    *,
    check_id: str,
    title: str,
    description: str,
    fix: str,
    data: Mapping[str, Any] | None = None,
    extra_data: Mapping[str, Any] | None = None,
) -> Findings:
    """One finding about ``t.<counter>`` as a share of all requests, or none without a severity.

    ``description`` is a ``str.format`` template over ``count``, ``total``, ``rate`` (as a
    percentage) and ``t``. The finding's data is ``data`` when given, else the count, the requests
    and the rate, followed by ``extra_data``.
    """
    if severity is None:
        return []
    count: int = getattr(t, counter)
    total = t.requests_total
    rate = ratio(count, total)
    if data is None:
        data = {counter: count, "requests": total, "rate": rate, **(extra_data or {})}
    return [
        HealthCheck(
            check_id=check_id,
            severity=severity,
            title=title,
            description=description.format(count=count, total=total, rate=pct(rate), t=t),
            fix=fix,
            data=dict(data),
        )
    ]


def _rate_check(
    t: TrafficStats,
    counter: str,
    *,
    min_count: int,
    levels: Sequence[tuple[float, Severity]],
    **finding: Any,
) -> Findings:
    """``_counter_finding`` at the severity ``rate_severity`` gives ``t.<counter>``."""
    count: int = getattr(t, counter)
    severity = rate_severity(count, t.requests_total, min_count=min_count, levels=levels)
    return _counter_finding(t, counter, severity, **finding)


@health_check
def check_vram_fallbacks(inputs: HealthInputs) -> Findings:
    """Requests rarely fall back to a stand-in model."""
    return _rate_check(
        inputs.traffic,
        "vram_fallbacks",
        min_count=VRAM_FALLBACK_MIN_COUNT,
        levels=[(VRAM_FALLBACK_RATE_INFO, "info"), (VRAM_FALLBACK_RATE_WARNING, "warning")],
        check_id="vram_fallbacks",
        title="Loaded models often stand in for cold ones",
        description=(
            "{count} of {total} requests ({rate}) were served by an already-loaded model of the "
            "same kind instead of the model requested, because loading the requested one would "
            "have been slow. Clients see the substitute in the X-Fleet-Fallback header."
        ),
        fix=(
            "Keep the requested models loaded where there is room (OLLAMA_KEEP_ALIVE=30m or "
            "OLLAMA_MAX_LOADED_MODELS higher on the large nodes), or turn the behaviour off: "
            'POST /dashboard/api/settings {"vram_fallback": false}.'
        ),
    )


@health_check
def check_model_fallbacks(inputs: HealthInputs) -> Findings:
    """Requests rarely need a client's fallback model."""
    return _rate_check(
        inputs.traffic,
        "model_fallbacks",
        min_count=MODEL_FALLBACK_MIN_COUNT,
        levels=[(MODEL_FALLBACK_RATE_INFO, "info"), (MODEL_FALLBACK_RATE_WARNING, "warning")],
        check_id="model_fallbacks",
        title="Requests fall back to their second-choice model",
        description=(
            "{count} of {total} requests ({rate}) were served by a model from the client's "
            "fallback_models list because the first choice was missing or failing on every node."
        ),
        fix=(
            "Make the primary model available: pull it onto a node with room "
            '(`POST /api/pull {"model": "<model>"}`) and check the failing attempts in '
            "/dashboard/api/traces."
        ),
    )


@health_check
def check_context_protection(inputs: HealthInputs) -> Findings:
    """Context protection seldom has to step in."""
    t = inputs.traffic
    if t.context_protections < CONTEXT_PROTECTION_MIN_COUNT or t.requests_total <= 0:
        return []
    rate = ratio(t.context_protections, t.requests_total)
    severity: Severity = (
        "warning"
        if t.requests_total >= MIN_REQUESTS_FOR_RATES and rate >= CONTEXT_PROTECTION_RATE_WARNING
        else "info"
    )
    return _counter_finding(
        t,
        "context_protections",
        severity,
        check_id="context_protection",
        title="Clients ask for a context size the nodes are not loaded with",
        description=(
            "Context protection dropped options.num_ctx from {count} of {total} requests "
            "({rate}); honouring it would have reloaded the model (seconds of delay and a lost "
            "prompt cache) on every such request."
        ),
        fix=(
            "Set OLLAMA_CONTEXT_LENGTH on the nodes to the context your clients need, or stop "
            "sending options.num_ctx from the clients; to honour num_ctx anyway, "
            'POST /dashboard/api/settings {"context_protection": false}.'
        ),
    )


@health_check
def check_zombie_reaper(inputs: HealthInputs) -> Findings:
    """No request stalls until the reaper frees it."""
    t = inputs.traffic
    if t.zombie_reaps < ZOMBIE_MIN_COUNT:
        return []
    rate = ratio(t.zombie_reaps, t.requests_total)
    severity: Severity = "info"
    if t.zombie_reaps >= ZOMBIE_COUNT_WARNING or (
        t.requests_total >= MIN_REQUESTS_FOR_RATES and rate >= ZOMBIE_RATE_WARNING
    ):
        severity = "warning"
    if t.requests_total >= MIN_REQUESTS_FOR_RATES and rate >= ZOMBIE_RATE_CRITICAL:
        severity = "critical"
    return _counter_finding(
        t,
        "zombie_reaps",
        severity,
        check_id="zombie_reaper",
        title="Stalled requests were reaped",
        description=(
            "The zombie reaper freed {count} stalled request slot(s) out of {total} requests "
            "({rate}): requests that stopped producing output and held a queue slot until the "
            "reaper timeout."
        ),
        fix=(
            "Look at the reaped requests in /dashboard/api/traces to find the node, then check "
            "that node's Ollama log for hangs or out-of-memory. If long generations are "
            'legitimate, raise the timeout: POST /dashboard/api/settings {"reaper_timeout_s": '
            "900} (or HERD_REAPER_TIMEOUT_S=900)."
        ),
    )


@health_check
def check_model_thrashing(inputs: HealthInputs) -> Findings:
    """Models are not loaded over and over."""
    nodes = {n.node_id: n for n in inputs.nodes}
    window = window_text(inputs.traffic.window_s)
    findings = []
    for (node_id, model), loads in sorted(inputs.traffic.cold_loads.items()):
        if loads < THRASH_WARNING:
            continue
        severity: Severity = "critical" if loads >= THRASH_CRITICAL else "warning"
        node = nodes.get(node_id)
        settings = ""
        url = node.ollama.url.rstrip("/") if node is not None else f"http://{node_id}:11434"
        if node is not None:
            keep = node.ollama.keep_alive or "5m (default)"
            max_loaded = node.ollama.max_loaded_models or "3 (default)"
            settings = (
                f" The node runs OLLAMA_KEEP_ALIVE={keep}, OLLAMA_MAX_LOADED_MODELS={max_loaded}."
            )
        findings.append(
            HealthCheck(
                check_id="model_thrashing",
                severity=severity,
                title=f"{model} keeps reloading on {node_id}",
                description=(
                    f"{model} was cold-loaded {loads} times on {node_id} in the last "
                    f"{window}: it is evicted or expires while still in demand, and every "
                    f"load costs seconds before the first token.{settings}"
                ),
                fix=(
                    f"On {node_id}, keep it loaded longer with OLLAMA_KEEP_ALIVE=30m (or -1 to "
                    "never unload), raise OLLAMA_MAX_LOADED_MODELS if memory allows, or pin it: "
                    f'`curl {url}/api/generate -d \'{{"model": "{model}", '
                    '"keep_alive": -1}\'`.'
                ),
                node_id=node_id,
                data={"model": model, "cold_loads": loads, "window_s": inputs.traffic.window_s},
            )
        )
    return findings


@health_check
def check_request_timeouts(inputs: HealthInputs) -> Findings:
    """Requests do not time out."""
    return _rate_check(
        inputs.traffic,
        "timeouts",
        min_count=TIMEOUT_MIN_COUNT,
        levels=[(TIMEOUT_RATE_WARNING, "warning"), (TIMEOUT_RATE_CRITICAL, "critical")],
        check_id="request_timeouts",
        title="Upstream requests time out",
        description=(
            "{count} of {total} requests ({rate}) hit an upstream timeout (connect, first byte "
            "or between chunks); {t.effective_cold_loads} cold loads in the same window are a "
            "common cause."
        ),
        fix=(
            "Find the node in /dashboard/api/traces; if cold loads of large models are slow, "
            "raise HERD_FIRST_BYTE_TIMEOUT_S (default 600) or keep the model loaded "
            "(OLLAMA_KEEP_ALIVE); if streams stall mid-way, raise HERD_READ_TIMEOUT_S or "
            "check the node for memory pressure."
        ),
    )


@health_check
def check_error_rate(inputs: HealthInputs) -> Findings:
    """The error rate is low."""
    t = inputs.traffic
    rate = t.effective_error_rate
    failed = t.failed or round(rate * t.requests_total)
    if t.requests_total < MIN_REQUESTS_FOR_RATES or failed < ERROR_MIN_COUNT:
        return []
    if rate < ERROR_RATE_WARNING:
        return []
    severity: Severity = "critical" if rate >= ERROR_RATE_CRITICAL else "warning"
    return [
        HealthCheck(
            check_id="error_rate",
            severity=severity,
            title="Many requests fail",
            description=(
                f"{failed} of {t.requests_total} requests failed in the window, an error rate "
                f"of {pct(rate)} (warning at {pct(ERROR_RATE_WARNING)}, critical at "
                f"{pct(ERROR_RATE_CRITICAL)})."
            ),
            fix=(
                "Group the failures by error_message and node in /dashboard/api/traces "
                "(`curl 'http://localhost:11435/dashboard/api/traces?limit=200'`); missing models "
                "need a pull, out-of-memory errors a smaller OLLAMA_NUM_PARALLEL or model."
            ),
            data={"failed": failed, "requests": t.requests_total, "error_rate": rate},
        )
    ]


@health_check
def check_retry_rate(inputs: HealthInputs) -> Findings:
    """Few requests need a retry."""
    t = inputs.traffic
    return _rate_check(
        t,
        "retries",
        min_count=RETRY_MIN_COUNT,
        levels=[(RETRY_RATE_WARNING, "warning"), (RETRY_RATE_CRITICAL, "critical")],
        check_id="retry_rate",
        title="Requests often need a retry",
        description=(
            "The router made {count} retry attempts for {total} requests ({rate}); {t.retried} "
            "attempts failed before the first byte and were sent to another node. Clients still "
            "got answers, but later."
        ),
        fix=(
            "Find which node the retried attempts left in /dashboard/api/traces and fix it "
            "(Ollama crashing, model missing, memory pressure), or drain it until fixed."
        ),
        data={"retries": t.retries, "retried": t.retried, "requests": t.requests_total},
    )


@health_check
def check_client_disconnects(inputs: HealthInputs) -> Findings:
    """Clients rarely leave before the answer."""
    t = inputs.traffic
    ttft = f" The median time to first token is {t.ttft_p50_ms:.0f} ms." if t.ttft_p50_ms else ""
    return _rate_check(
        t,
        "client_disconnected",
        min_count=DISCONNECT_MIN_COUNT,
        levels=[(DISCONNECT_RATE_INFO, "info"), (DISCONNECT_RATE_WARNING, "warning")],
        check_id="client_disconnects",
        title="Clients abandon requests",
        description=(
            "{count} of {total} requests ({rate}) ended because the client disconnected before "
            "the reply was complete." + ttft
        ),
        fix=(
            "Raise the client's HTTP timeout (cold loads can take a minute), and cut the wait: "
            "keep popular models loaded (OLLAMA_KEEP_ALIVE) and add capacity for busy models "
            "(OLLAMA_NUM_PARALLEL on a node with spare memory)."
        ),
        extra_data={"ttft_p50_ms": t.ttft_p50_ms},
    )


@health_check
def check_incomplete_streams(inputs: HealthInputs) -> Findings:
    """Streams finish once started."""
    return _rate_check(
        inputs.traffic,
        "incomplete",
        min_count=INCOMPLETE_MIN_COUNT,
        levels=[(INCOMPLETE_RATE_WARNING, "warning"), (INCOMPLETE_RATE_CRITICAL, "critical")],
        check_id="incomplete_streams",
        title="Streams break before the end",
        description=(
            "{count} of {total} requests ({rate}) ended with a truncated stream: the node stopped "
            "or sent an error after output had reached the client, and the answer could not go "
            "on elsewhere (no other node took it, the node reported the error itself, or the "
            "answer was not resumable: a tool call or only thinking so far, a format, a "
            "node's own compatibility stream, or resume_streams off)."
        ),
        fix=(
            "Check the nodes named on the incomplete traces in /dashboard/api/traces for "
            "Ollama crashes or out-of-memory (lower OLLAMA_NUM_PARALLEL or "
            "OLLAMA_CONTEXT_LENGTH there), and for network drops between router and node."
        ),
    )
