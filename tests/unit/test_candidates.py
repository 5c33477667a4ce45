"""Session keys and prompt estimates: what affinity and context fit are computed from."""

from __future__ import annotations

from router.pipeline.candidates import estimate_prompt_tokens, session_key


def test_every_turn_of_a_conversation_shares_one_key() -> None:
    opening = [{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}]
    later = [*opening, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "more"}]
    assert session_key("m:1b", {"messages": opening}) == session_key("m:1b", {"messages": later})


def test_different_conversations_and_models_differ() -> None:
    a = {"messages": [{"role": "user", "content": "hi"}]}
    b = {"messages": [{"role": "user", "content": "hello"}]}
    assert session_key("m:1b", a) != session_key("m:1b", b)
    assert session_key("m:1b", a) != session_key("n:1b", a)


def test_generate_prompts_have_keys_and_empty_requests_none() -> None:
    assert session_key("m:1b", {"prompt": "Once upon a time"}) is not None
    assert session_key("m:1b", {"messages": []}) is None
    assert session_key("m:1b", {}) is None


def test_prompt_tokens_are_about_four_characters_each() -> None:
    body = {"messages": [{"role": "user", "content": "x" * 400}], "system": "y" * 40}
    assert estimate_prompt_tokens(body) == 110
    assert estimate_prompt_tokens({"prompt": "abcd" * 10}) == 10
