"""The error for a request no node served, saying why in the client's terms.

Owns ``refusal``: the model is of another kind than the endpoint serves (an image model on
``/api/chat``: 400 naming the right endpoint), every attempt failed (502 with the last reason and
the attempts made), no node has the model (404), or no node can take it now (503 with each node's
reason and a ``Retry-After``). Reads the ranker's snapshots; no I/O.
"""

from __future__ import annotations

from router.backends import placement
from router.errors import BadRequest, HerdError, NoCapacity, NotFound, UpstreamFailure
from router.pipeline.candidates import Ranker
from router.pipeline.request import InferenceRequest
from router.upstream import AttemptFailed


def refusal(
    ranker: Ranker,
    request: InferenceRequest,
    primary: str,
    wanted: list[str],
    unknown: list[str],
    last_failure: AttemptFailed | None,
    retries: int,
) -> HerdError:
    """The error for a request no node served: the nodes failed, the model is of another kind
    (an image model on /api/chat), nobody has the model, or nobody can take it now."""
    wrong = placement.wrong_endpoint(ranker.kinds_serving(primary), request.kind)
    if wrong is not None:
        return BadRequest(f'model "{request.model}" cannot serve this request: {wrong}')
    if last_failure is not None:
        error: HerdError = UpstreamFailure(
            f"{last_failure.message} (after {retries} attempt{'s' if retries != 1 else ''})",
            status=502 if (last_failure.status or 502) >= 500 else last_failure.status,
        )
    elif len(unknown) == len(wanted):
        error = NotFound(f'model "{request.model}" not found, try pulling it first')
    elif request.kind in ("image", "transcribe"):
        error = NoCapacity(
            f"no node can serve {primary} right now: "
            + placement.explain(ranker.registry.records(), primary, request.kind),
            retry_after_s=5,
        )
    else:
        error = NoCapacity(
            f"no node can serve {primary} right now: "
            + ranker.explain_rejections(primary, request),
            retry_after_s=5,
        )
    return error
