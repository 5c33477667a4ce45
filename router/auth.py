"""Who may call what: fleet token for heartbeats, API key for use, admin key for changes.

- Heartbeats need ``HERD_FLEET_TOKEN`` when it is set.
- Administrative calls (pull, delete, settings changes, benchmark runs) need ``HERD_ADMIN_KEY`` when
  it is set; when it is not, they are accepted from the loopback interface only.
- Everything else (inference and reads) needs ``HERD_API_KEY`` when it is set (as a bearer token or,
  as Anthropic clients send it, ``x-api-key``); the admin key works too. The dashboard page and
  ``/`` stay open so a person can reach the login-free status page.
Keys are compared in constant time. Pure: the caller passes the request's parts in. Which rule a
route follows is declared with the route itself (``router.api.access.route``), not here.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Literal

from router.errors import Forbidden, HerdError, Unauthorized

Access = Literal["open", "heartbeat", "use", "admin"]


@dataclass(frozen=True, slots=True)
class Keys:
    fleet_token: str | None = None
    api_key: str | None = None
    admin_key: str | None = None


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


def check(access: Access, keys: Keys, token: str | None, client_host: str | None) -> None:
    """Raise ``Unauthorized``/``Forbidden`` when the caller may not proceed."""
    if access == "open":
        return
    if access == "heartbeat":
        if keys.fleet_token and not _same(token, keys.fleet_token):
            raise Unauthorized("missing or wrong fleet token (HERD_FLEET_TOKEN) for heartbeats")
        return
    if access == "admin":
        if keys.admin_key:
            if not _same(token, keys.admin_key):
                raise Unauthorized(
                    "this is an administrative call: send Authorization: Bearer <HERD_ADMIN_KEY>"
                )
            return
        if not is_loopback(client_host):
            raise Forbidden(
                "administrative calls (pull, delete, settings) are accepted only from the router's "
                "own machine while HERD_ADMIN_KEY is unset; set HERD_ADMIN_KEY on the router and "
                "send it as 'Authorization: Bearer <key>' to allow them from elsewhere"
            )
        return
    if keys.api_key and not (
        _same(token, keys.api_key) or (keys.admin_key and _same(token, keys.admin_key))
    ):
        raise Unauthorized(
            "missing or wrong API key: send Authorization: Bearer <HERD_API_KEY> (or x-api-key)"
        )


def authorize(
    access: Access,
    keys: Keys,
    authorization: str | None,
    client_host: str | None,
    api_key_header: str | None = None,
) -> HerdError | None:
    """The error to answer with, or ``None`` when the call may go ahead.

    The key comes as ``Authorization: Bearer <key>``, or as ``x-api-key: <key>`` (what Anthropic
    clients such as Claude Code send).
    """
    token = bearer(authorization) or (api_key_header.strip() if api_key_header else None)
    try:
        check(access, keys, token, client_host)
    except HerdError as exc:
        return exc
    return None
