"""herd_mcp.guard: one-time confirmation tokens, bound to a tool and its exact arguments."""

from __future__ import annotations

import itertools

import pytest

from herd_mcp.guard import ConfirmationGuard, canonical


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(ttl: float = 300.0, max_outstanding: int = 64) -> tuple[ConfirmationGuard[str], FakeClock]:
    clock = FakeClock()
    counter = itertools.count(1)
    guard: ConfirmationGuard[str] = ConfirmationGuard(
        clock, ttl_s=ttl, token_source=lambda: f"t{next(counter)}", max_outstanding=max_outstanding
    )
    return guard, clock


ARGS = {"model": "qwen3:8b", "node": "ws"}


def test_a_token_works_once_and_returns_the_previewed_payload() -> None:
    guard, _ = make()
    ticket = guard.issue("pull_model", ARGS, "plan-1")
    first = guard.redeem(ticket.token, "pull_model", dict(ARGS))
    assert first.ok and first.payload == "plan-1"
    again = guard.redeem(ticket.token, "pull_model", dict(ARGS))
    assert not again.ok and again.refusal == "unknown"
    assert "already used" in again.reason


def test_an_expired_token_is_refused_at_exactly_the_ttl() -> None:
    guard, clock = make(ttl=300.0)
    ticket = guard.issue("pull_model", ARGS, "plan")
    clock.now += 299.9
    assert guard.expires_in(ticket) == pytest.approx(0.1)
    clock.now += 0.1
    verdict = guard.redeem(ticket.token, "pull_model", ARGS)
    assert not verdict.ok and verdict.refusal == "expired"
    assert guard.redeem(ticket.token, "pull_model", ARGS).refusal == "unknown"


def test_a_token_just_before_expiry_still_works() -> None:
    guard, clock = make(ttl=60.0)
    ticket = guard.issue("delete_model", ARGS, "plan")
    clock.now += 59.0
    assert guard.redeem(ticket.token, "delete_model", ARGS).ok


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("pull_model", {"model": "qwen3:8b", "node": "laptop"}),
        ("pull_model", {"model": "qwen3:14b", "node": "ws"}),
        ("pull_model", {"model": "qwen3:8b"}),
        ("delete_model", ARGS),
    ],
)
def test_other_arguments_or_another_tool_are_refused_and_burn_the_token(
    tool: str, args: dict[str, str]
) -> None:
    guard, _ = make()
    ticket = guard.issue("pull_model", ARGS, "plan")
    verdict = guard.redeem(ticket.token, tool, args)
    assert not verdict.ok and verdict.refusal == "mismatch"
    assert not guard.redeem(ticket.token, "pull_model", ARGS).ok


def test_unknown_tokens_are_refused() -> None:
    guard, _ = make()
    assert guard.redeem("made-up", "pull_model", ARGS).refusal == "unknown"


def test_binding_ignores_none_and_key_order() -> None:
    assert canonical("t", {"a": 1, "b": None}) == canonical("t", {"a": 1})
    assert canonical("t", {"a": 1, "b": 2}) == canonical("t", {"b": 2, "a": 1})
    assert canonical("t", {"a": 1}) != canonical("u", {"a": 1})
    assert canonical("t", {"a": True}) != canonical("t", {"a": 1.5})


def test_outstanding_tokens_are_bounded_oldest_first() -> None:
    guard, _ = make(max_outstanding=2)
    first = guard.issue("pull_model", ARGS, "1")
    second = guard.issue("pull_model", ARGS, "2")
    third = guard.issue("pull_model", ARGS, "3")
    assert len(guard) == 2
    assert guard.redeem(first.token, "pull_model", ARGS).refusal == "unknown"
    assert guard.redeem(second.token, "pull_model", ARGS).payload == "2"
    assert guard.redeem(third.token, "pull_model", ARGS).payload == "3"


def test_expired_tokens_are_forgotten_when_new_ones_are_issued() -> None:
    guard, clock = make(ttl=10.0)
    guard.issue("pull_model", ARGS, "old")
    clock.now += 11
    guard.issue("pull_model", ARGS, "new")
    assert len(guard) == 1


def test_each_token_is_distinct_even_if_the_source_repeats() -> None:
    clock = FakeClock()
    guard: ConfirmationGuard[str] = ConfirmationGuard(clock, token_source=lambda: "same")
    a = guard.issue("pull_model", ARGS, "a")
    b = guard.issue("pull_model", ARGS, "b")
    assert a.token != b.token
    assert guard.redeem(a.token, "pull_model", ARGS).payload == "a"
    assert guard.redeem(b.token, "pull_model", ARGS).payload == "b"


def test_a_non_positive_ttl_is_rejected() -> None:
    with pytest.raises(ValueError):
        ConfirmationGuard(FakeClock(), ttl_s=0)
