"""Typed errors raised inside the router; each front end renders them once in its client's format.

Nothing here knows about HTTP frameworks: an error is a status, a message and optional headers.
"""

from __future__ import annotations


class HerdError(Exception):
    """An error with the HTTP status a client should see."""

    status = 500
    code = "internal_error"
    traced = False
    """Set once the error has been recorded as a trace, so it is recorded only once."""

    def __init__(
        self, message: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(HerdError):
    status = 400
    code = "invalid_request"


class Unauthorized(HerdError):
    status = 401
    code = "unauthorized"


class Forbidden(HerdError):
    status = 403
    code = "forbidden"


class NotFound(HerdError):
    status = 404
    code = "not_found"


class PayloadTooLarge(HerdError):
    status = 413
    code = "payload_too_large"


class InsufficientStorage(HerdError):
    """The router could not save a change: its disk is full or read-only."""

    status = 507
    code = "insufficient_storage"


class ClientGone(HerdError):
    """The client disconnected before its answer began; nobody reads this error."""

    status = 499
    code = "client_closed_request"


class NoCapacity(HerdError):
    """Every candidate queue is full, or no node can serve right now: try again later."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))})


class UpstreamFailure(HerdError):
    """A node failed the request and no retry was possible or left."""

    status = 502
    code = "upstream_error"
