"""Request ids: every response carries ``X-Request-Id``, the same id the traces and logs use.

Owns ``RequestIds``, a pure-ASGI middleware: it takes a sane incoming ``X-Request-Id`` (1-64
characters of letters, digits and ``._:-``) or makes a new one, keeps it in the scope for the
handlers (``request_id_of``), and adds the header to every response start that lacks it: answers,
errors, 404 and 405, refusals and streams. The one response it cannot reach, the 500 for an
unhandled exception (sent outside the middleware stack), takes the id from ``request_id_of``.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.pipeline.request import new_request_id

HEADER = "X-Request-Id"
_RAW_HEADER = b"x-request-id"
_SCOPE_KEY = "herd.request_id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def request_id_of(scope: Scope) -> str:
    """The id of the request in ``scope`` (a new one outside the middleware, e.g. in tests)."""
    found = scope.get(_SCOPE_KEY)
    if isinstance(found, str):
        return found
    made = scope[_SCOPE_KEY] = new_request_id()
    return made


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == _RAW_HEADER:
                given = value
                break
        request_id = (
            given.decode("ascii")
            if given is not None and _SANE.fullmatch(given)
            else new_request_id()
        )
        scope[_SCOPE_KEY] = request_id
        raw = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == _RAW_HEADER for name, _ in headers):
                    headers.append((_RAW_HEADER, raw))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
