"""What simulated models say: deterministic, capped, stoppable, JSON when asked, tools by rule."""

from __future__ import annotations

import json
import math

from node.sim import replies
from node.sim.faults import FaultBook


def test_replies_are_deterministic_per_prompt_and_seed() -> None:
    a = replies.plan_reply(model="m", prompt="hello")
    b = replies.plan_reply(model="m", prompt="hello")
    c = replies.plan_reply(model="m", prompt="hello", options={"seed": 7})
    assert a.content == b.content
    assert a.content != c.content
    assert 16 <= len(a.content) <= 48
    assert a.done_reason == "stop"


def test_num_predict_caps_tokens_with_length() -> None:
    plan = replies.plan_reply(model="m", prompt="hello", options={"num_predict": 3})
    assert len(plan.content) == 3
    assert plan.eval_count == 3
    assert plan.done_reason == "length"
    roomy = replies.plan_reply(model="m", prompt="hello", options={"num_predict": 1000})
    assert roomy.done_reason == "stop"


def test_num_predict_counts_thinking_tokens_too() -> None:
    plan = replies.plan_reply(model="m", prompt="q", think=True, options={"num_predict": 4})
    assert len(plan.thinking) == 4 and plan.content == []
    assert plan.done_reason == "length"


def test_a_stop_string_ends_the_reply_before_it() -> None:
    full = "".join(replies.plan_reply(model="m", prompt="hello").content)
    word = full.split()[5]
    plan = replies.plan_reply(model="m", prompt="hello", options={"stop": [" " + word]})
    text = "".join(plan.content)
    assert text == full[: full.index(" " + word)]
    assert plan.done_reason == "stop"


def test_json_format_and_schema_give_valid_json() -> None:
    plain = replies.plan_reply(model="m", prompt="hi", fmt="json")
    assert isinstance(json.loads("".join(plain.content)), dict)
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "count": {"type": "integer"},
            "ok": {"type": "boolean"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    shaped = json.loads(
        "".join(replies.plan_reply(model="m", prompt="in Oslo", fmt=schema).content)
    )
    assert shaped == {"city": "Oslo", "count": 1, "ok": True, "unit": "celsius", "tags": ["Oslo"]}


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {}}}


def test_tool_call_rule() -> None:
    user = [{"role": "user", "content": "What is the weather in Paris?"}]
    calls = replies.choose_tool_call([WEATHER, CLOCK], user)
    assert calls == [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    named = [{"role": "user", "content": "please get time now"}]
    assert replies.choose_tool_call([WEATHER, CLOCK], named) == [
        {"function": {"name": "get_time", "arguments": {}}}
    ]
    assert replies.choose_tool_call([WEATHER], [{"role": "user", "content": "hello"}]) is None
    after_tool = [*user, {"role": "tool", "content": "sunny"}]
    assert replies.choose_tool_call([WEATHER], after_tool) is None
    assert replies.choose_tool_call(None, user) is None


def test_embeddings_are_deterministic_and_unit_length() -> None:
    a = replies.embedding("nomic", "text", 768)
    assert a == replies.embedding("nomic", "text", 768)
    assert a != replies.embedding("nomic", "other", 768)
    assert math.isclose(sum(v * v for v in a), 1.0, rel_tol=1e-9)
    raw = replies.embedding("nomic", "text", 16, normalise=False)
    assert not math.isclose(sum(v * v for v in raw), 1.0, rel_tol=1e-3)


def test_token_count_is_a_quarter_of_the_characters() -> None:
    assert replies.count_tokens("") == 0
    assert replies.count_tokens("abcd") == 1
    assert replies.count_tokens("abcde") == 2


def test_faults_match_paths_models_and_counts() -> None:
    book = FaultBook()
    book.add({"kind": "http_error", "model": "llama3.2:3b", "count": 2})
    tags_fault = book.add({"kind": "hang", "path": "/api/tags"})
    assert book.take("/api/ps", None) is None  # no path: inference paths only
    assert book.take("/api/chat", "other") is None
    assert book.take("/api/chat", "LLAMA3.2:3b") is not None
    assert book.take("/api/generate", "llama3.2:3b") is not None
    assert book.take("/api/chat", "llama3.2:3b") is None  # spent
    assert book.take("/api/tags", None) is tags_fault
    forever = book.add({"kind": "slow", "count": -1})
    for _ in range(5):
        assert book.take("/v1/chat/completions", "x") is forever
    book.clear()
    assert book.take("/api/chat", "x") is None


def test_a_prefill_that_starts_the_reply_is_continued_from_where_it_ends() -> None:
    from node.sim.generation import generate_transcript, plan_chat, transcript

    asked = [{"role": "user", "content": "hello"}]
    whole = plan_chat("m", asked, None, {}, think=False, fmt=None)
    prefill = "".join(whole.content[:5])
    continued = plan_chat(
        "m", [*asked, {"role": "assistant", "content": prefill}], None, {}, think=False, fmt=None
    )
    assert prefill + "".join(continued.content) == "".join(whole.content)
    assert continued.eval_count == len(whole.content) - 5  # only new tokens are counted
    # thinking is over once a prefill has text; the reply is the same as with think on
    thought = plan_chat("m", asked, None, {}, think=True, fmt=None)
    resumed = plan_chat(
        "m",
        [*asked, {"role": "assistant", "content": "".join(thought.content[:3])}],
        None,
        {"num_predict": 2},
        think=True,
        fmt=None,
    )
    assert resumed.thinking == [] and resumed.content == thought.content[3:5]
    assert resumed.done_reason == "length"
    # a generate request is planned as the chat Ollama renders it as
    generated = replies.plan_reply(model="m", prompt=generate_transcript("", "hello"))
    assert generated.content == whole.content and transcript(asked) == generate_transcript(
        "", "hello"
    )


def test_a_prefill_of_other_words_is_followed_by_new_words() -> None:
    plan = replies.continuation(
        model="m", prompt_before="user: hi", prompt="user: hi\nassistant: Zebra", prefill="Zebra"
    )
    assert plan.content and plan.content[0].startswith(" ")
    assert plan.thinking == [] and plan.tool_calls is None
