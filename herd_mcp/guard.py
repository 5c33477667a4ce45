"""One-time confirmation tokens for the two-step flow of clients without elicitation.

Owns issuing a token bound to one tool and exactly one set of arguments, and redeeming it once.
A token is refused when it is unknown or already used, when it has expired, or when the tool or
the arguments differ from the ones it was issued for; any redemption attempt burns the token, so
a refused token cannot be retried either. The guard also keeps a payload (the plan the user was
shown) so the second call acts on exactly what was previewed.

Pure: the clock and the token source are injected; no I/O, no global state.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

P = TypeVar("P")

DEFAULT_TTL_S = 300.0
"""A preview stays valid for five minutes: long enough for a person to read it and say yes."""
MAX_OUTSTANDING = 64
"""Tokens kept at most; the oldest are forgotten first (a client cannot grow memory forever)."""

Refusal = Literal["unknown", "expired", "mismatch"]


def canonical(tool: str, args: Mapping[str, Any]) -> str:
    """The binding of a call: the tool name and its arguments (``None`` dropped, keys sorted)."""
    kept = {k: v for k, v in args.items() if v is not None}
    return json.dumps([tool, kept], sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class Ticket(Generic[P]):
    token: str
    tool: str
    binding: str
    expires_at: float
    payload: P


@dataclass(frozen=True, slots=True)
class Redeemed(Generic[P]):
    ok: bool
    payload: P | None = None
    refusal: Refusal | None = None

    @property
    def reason(self) -> str:
        return {
            None: "",
            "unknown": "this confirmation token is unknown or was already used (tokens work once)",
            "expired": "this confirmation token has expired",
            "mismatch": "this confirmation token was issued for other arguments or another tool",
        }[self.refusal]


class ConfirmationGuard(Generic[P]):
    """Issues and redeems one-time tokens; ``clock`` returns seconds (monotonic is best)."""

    def __init__(
        self,
        clock: Callable[[], float],
        ttl_s: float = DEFAULT_TTL_S,
        token_source: Callable[[], str] | None = None,
        max_outstanding: int = MAX_OUTSTANDING,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._clock = clock
        self.ttl_s = ttl_s
        self._token_source = token_source or (lambda: secrets.token_urlsafe(18))
        self._max = max(1, max_outstanding)
        self._tickets: OrderedDict[str, Ticket[P]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tickets)

    def issue(self, tool: str, args: Mapping[str, Any], payload: P) -> Ticket[P]:
        now = self._clock()
        self._forget_expired(now)
        token = self._token_source()
        while token in self._tickets:  # a repeated token would confuse two previews
            token = self._token_source() + secrets.token_hex(2)
        ticket = Ticket(token, tool, canonical(tool, args), now + self.ttl_s, payload)
        self._tickets[token] = ticket
        while len(self._tickets) > self._max:
            self._tickets.popitem(last=False)
        return ticket

    def redeem(self, token: str, tool: str, args: Mapping[str, Any]) -> Redeemed[P]:
        ticket = self._tickets.pop(token, None)
        if ticket is None:
            return Redeemed(False, refusal="unknown")
        if self._clock() >= ticket.expires_at:
            return Redeemed(False, refusal="expired")
        if ticket.tool != tool or ticket.binding != canonical(tool, args):
            return Redeemed(False, refusal="mismatch")
        return Redeemed(True, payload=ticket.payload)

    def expires_in(self, ticket: Ticket[P]) -> float:
        return max(0.0, ticket.expires_at - self._clock())

    def _forget_expired(self, now: float) -> None:
        for token in [t for t, ticket in self._tickets.items() if now >= ticket.expires_at]:
            del self._tickets[token]
