"""Access rules declared with each route, and their enforcement before the route's handler.

Every route of the router is made with ``route(path, endpoint, methods=..., access=...)`` (or
``mount(..., access=...)``), so the rule (``open``, ``heartbeat``, ``use``, ``admin``; see
``router.auth``) sits on the line that defines the route. ``guard`` wraps each route's ASGI app in
an ``AccessGuard`` that checks the caller's key before anything is read; a route without a
declared rule stops the router from starting. A test walks every route and checks its rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from router.api.responses import error_response
from router.auth import Access, Keys, authorize

ACCESS_ATTRIBUTE = "herd_access"
"""The attribute of a route that holds its declared ``Access`` rule."""


def route(
    path: str,
    endpoint: Callable[..., Any],
    *,
    methods: Collection[str],
    access: Access,
) -> Route:
    """A Starlette ``Route`` carrying its access rule."""
    made = Route(path, endpoint, methods=list(methods))
    setattr(made, ACCESS_ATTRIBUTE, access)
    return made


def mount(path: str, app: ASGIApp, *, access: Access, name: str | None = None) -> Mount:
    """A Starlette ``Mount`` (e.g. static files) carrying its access rule."""
    made = Mount(path, app=app, name=name)
    setattr(made, ACCESS_ATTRIBUTE, access)
    return made


def access_of(item: BaseRoute) -> Access | None:
    """The rule declared on a route, or ``None`` when it has none."""
    value = getattr(item, ACCESS_ATTRIBUTE, None)
    return value if value in ("open", "heartbeat", "use", "admin") else None


class AccessGuard:
    """Pure-ASGI wrapper of one route's app: refuses callers its rule does not admit."""

    def __init__(self, app: ASGIApp, access: Access, keys: Keys) -> None:
        self.app = app
        self.access = access
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.access != "open":
            authorization = api_key = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                elif name == b"x-api-key":
                    api_key = value.decode("latin-1")
            client = scope.get("client")
            denied = authorize(
                self.access, self.keys, authorization, client[0] if client else None, api_key
            )
            if denied is not None:
                await error_response(scope["path"], denied)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def guard(routes: Iterable[BaseRoute], keys: Keys) -> None:
    """Put every route behind its declared rule; ``TypeError`` names a route without one."""
    for item in routes:
        access = access_of(item)
        if access is None:
            where = getattr(item, "path", repr(item))
            raise TypeError(
                f"route {where} declares no access rule: make it with router.api.access.route"
            )
        if isinstance(item, Route | Mount):
            item.app = AccessGuard(item.app, access, keys)
        else:
            raise TypeError(f"cannot guard {item!r}: only Route and Mount are supported")
