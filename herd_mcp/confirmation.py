"""The confirmation flow every changing tool goes through before it acts.

A client with elicitation is asked through the SDK's resolver mechanism (``Resolve`` + ``Elicit``)
with the ``Confirmation`` form; decline or cancel changes nothing. A client without elicitation
gets a preview and a one-time token bound to exactly the tool's arguments (``herd_mcp.guard``);
only a second call with that token acts, and it acts on the plan the preview showed. ``settle``
is that decision, written once for ``pull_model``, ``delete_model`` and ``update_settings``.

Owns the wording of refusals, previews and declines. It must never act itself (it calls the
tool's ``act``) nor talk to the router. No ``from __future__ import annotations``: the SDK
evaluates the resolvers' annotations.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, Resolve
from pydantic import BaseModel, Field

from herd_mcp.guard import ConfirmationGuard


class Confirmation(BaseModel):
    """The form shown to the user before a change."""

    confirm: bool = Field(title="Go ahead", description="true to make this change, false to stop")


ConfirmToken = Annotated[
    str | None, Field(description="Only after the user said yes to a preview: the token it gave")
]
"""The ``confirm_token`` argument every changing tool takes."""


class NoQuestion:
    """A resolver's answer when it must not ask: a token was given, the plan cannot run, or the
    client has no elicitation (then the two-step token flow applies)."""


NO_QUESTION = NoQuestion()


def can_elicit(ctx: Context[Any, Any]) -> bool:
    """Whether the client declared form elicitation (a bare ``elicitation: {}`` counts)."""
    try:
        caps = ctx.client_capabilities
    except (ValueError, AttributeError):
        return False
    if caps is None or caps.elicitation is None:
        return False
    return caps.elicitation.form is not None or caps.elicitation.url is None


class Plan(Protocol):
    """What ``settle`` reads from a change plan (a pydantic model, whose fields ``plan_facts``
    reads)."""

    @property
    def problem(self) -> str | None: ...

    @property
    def question(self) -> str: ...


def ask(plan: Plan, confirm_token: str | None, ctx: Context) -> Elicit[Confirmation] | NoQuestion:
    """A resolver's question: the ``Confirmation`` form naming the plan, or ``NO_QUESTION`` when
    the plan cannot run, a token was given, or the client cannot be asked."""
    if plan.problem or confirm_token or not can_elicit(ctx):
        return NO_QUESTION
    return Elicit(plan.question, Confirmation)


def question(plan_resolver: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """The resolver that asks the user about the plan ``plan_resolver`` makes (see ``ask``)."""

    async def resolve(
        plan: Annotated[Any, Resolve(plan_resolver)],
        confirm_token: str | None,
        ctx: Context,
    ) -> Elicit[Confirmation] | NoQuestion:
        return ask(plan, confirm_token, ctx)

    return resolve


def plan_facts(plan: Any, result: type[BaseModel]) -> dict[str, Any]:
    """What a change's ``result`` repeats from its plan: the plan's fields the result declares."""
    return {
        name: getattr(plan, name) for name in type(plan).model_fields if name in result.model_fields
    }


R = TypeVar("R", bound=BaseModel)


async def settle(
    *,
    tool_name: str,
    verb: str,
    result: type[R],
    guard: ConfirmationGuard[Any],
    binding: dict[str, Any],
    plan: Plan,
    answer: ElicitationResult[Confirmation],
    confirm_token: str | None,
    act: Callable[[Any], Awaitable[R]],
) -> R:
    """Redeem a token, refuse a plan with a problem, issue a preview token when the client could
    not be asked, act on a yes, or report the decline; ``verb`` says what did not happen
    ("pulled", "deleted", "changed"). Every result carries the plan's facts (``plan_facts``)."""
    facts = plan_facts(plan, result)
    if confirm_token:
        redeemed = guard.redeem(confirm_token, tool_name, binding)
        if not redeemed.ok:
            return result(
                status="refused",
                message=f"Nothing was {verb}: {redeemed.reason}. Call {tool_name} without a "
                "token for a fresh preview and ask the user again.",
                **facts,
            )
        return await act(redeemed.payload)
    if plan.problem:
        return result(status="refused", message=f"Nothing was {verb}: {plan.problem}", **facts)
    if isinstance(answer, AcceptedElicitation) and isinstance(answer.data, NoQuestion):
        ticket = guard.issue(tool_name, binding, plan)
        return result(
            status="needs_confirmation",
            message=f"Preview only, nothing was {verb}. {plan.question} Show this to the user "
            f"and wait for their explicit yes; then call {tool_name} again with the same "
            "arguments and confirm_token.",
            confirm_token=ticket.token,
            token_expires_in_s=guard.expires_in(ticket),
            **facts,
        )
    if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
        return await act(plan)
    said = "cancelled" if answer.action == "cancel" else "declined"
    return result(status=said, message=f"The user {said}; nothing was {verb}.", **facts)
