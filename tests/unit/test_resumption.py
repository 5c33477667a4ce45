"""The rules of a resumed stream: what may be continued, the continued request per endpoint, the
num_predict arithmetic and the totals of the joined answer (router/pipeline/resumption.py)."""

from __future__ import annotations

import json
from typing import Any

from router.pipeline import resumption
from router.pipeline.resumption import Joiner, Streamed

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def chat_line(content: str = "", thinking: str = "", calls: bool = False) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = [{"function": {"name": "f", "arguments": {}}}]
    return json.dumps({"model": "m", "message": message, "done": False}).encode() + b"\n"


def gen_line(response: str) -> bytes:
    return json.dumps({"model": "m", "response": response, "done": False}).encode() + b"\n"


def test_requests_that_cannot_be_continued_faithfully_are_refused() -> None:
    assert resumption.request_refusal("chat", CHAT) is None
    assert resumption.request_refusal("generate", {"model": "m", "prompt": "p"}) is None
    assert resumption.request_refusal("chat", {**CHAT, "format": "json"}) is not None
    for key, value in (("raw", True), ("context", [1, 2]), ("suffix", "}"), ("images", ["x"])):
        refusal = resumption.request_refusal("generate", {"prompt": "p", key: value})
        assert refusal is not None and key in refusal
    assert resumption.request_refusal("embed", {"input": "x"}) is not None


def test_a_streamed_tool_call_or_unfinished_thinking_is_not_continued() -> None:
    calls = Streamed("chat")
    calls.add_part([chat_line("a"), chat_line(calls=True)], 1.0)
    assert calls.refusal() is not None and "tool call" in (calls.refusal() or "")
    thinking = Streamed("chat")
    thinking.add_part([chat_line(thinking="hmm"), chat_line(thinking=" so")], 1.0)
    assert "thinking" in (thinking.refusal() or "")
    answering = Streamed("chat")
    answering.add_part([chat_line(thinking="hmm"), chat_line("Yes"), chat_line(" it")], 1.0)
    assert answering.refusal() is None
    assert answering.text == "Yes it" and answering.tokens == 3


def test_a_chat_goes_on_with_the_streamed_text_as_a_trailing_assistant_message() -> None:
    streamed = Streamed("chat")
    streamed.add_part([chat_line(thinking="hmm"), chat_line("Yes"), chat_line(" it")], 0.5)
    body = {**CHAT, "think": True, "options": {"num_predict": 10, "temperature": 0}}
    kind, continued = resumption.continued_request("chat", body, streamed)
    assert kind == "chat"
    assert continued["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Yes it", "thinking": "hmm"},
    ]
    assert continued["options"] == {"num_predict": 7, "temperature": 0}
    assert continued["think"] is True and body["messages"] == CHAT["messages"]  # not mutated


def test_nothing_streamed_yet_is_a_plain_retry() -> None:
    streamed = Streamed("chat")
    streamed.add_part([chat_line("")], 0.0)
    _, continued = resumption.continued_request("chat", CHAT, streamed)
    assert continued["messages"] == CHAT["messages"]


def test_a_generate_goes_on_as_the_chat_ollama_renders_it_as() -> None:
    streamed = Streamed("generate")
    streamed.add_part([gen_line("Once"), gen_line(" upon")], 0.2)
    body = {"model": "m", "prompt": "tell", "system": "be brief", "keep_alive": "5m"}
    kind, continued = resumption.continued_request("generate", body, streamed)
    assert kind == "chat"
    assert continued == {
        "model": "m",
        "keep_alive": "5m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "tell"},
            {"role": "assistant", "content": "Once upon"},
        ],
    }


def test_num_predict_is_reduced_by_the_tokens_sent_never_below_one() -> None:
    assert resumption.reduced_num_predict({"num_predict": 100}, 30) == {"num_predict": 70}
    assert resumption.reduced_num_predict({"num_predict": 5}, 30) == {"num_predict": 1}
    assert resumption.reduced_num_predict({"num_predict": -1}, 30) == {"num_predict": -1}
    assert resumption.reduced_num_predict({"num_predict": -2}, 3) == {"num_predict": -2}
    assert resumption.reduced_num_predict({"temperature": 1}, 3) == {"temperature": 1}


def test_the_joined_stream_starts_once_and_its_done_line_counts_every_part() -> None:
    streamed = Streamed("chat")
    streamed.add_part([chat_line("A"), chat_line(" b"), chat_line(" c")], 1.5)
    joiner = Joiner("chat", streamed)
    assert joiner.line(chat_line("")) is None  # an empty first chunk of the continuation
    assert joiner.line(chat_line(" d")) == chat_line(" d")
    assert joiner.line(chat_line("")) == chat_line("")  # later ones pass as they came
    final = {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "eval_count": 4,
        "eval_duration": 2_000_000_000,
        "total_duration": 2_500_000_000,
        "prompt_eval_count": 12,
    }
    merged = joiner.done(final, total_ns=9_000_000_000)
    assert merged["eval_count"] == 7
    assert merged["eval_duration"] == 3_500_000_000
    assert merged["total_duration"] == 9_000_000_000
    assert merged["prompt_eval_count"] == 12 and merged["done"] is True


def test_a_generate_continuation_reads_as_generate_lines() -> None:
    streamed = Streamed("generate")
    streamed.add_part([gen_line("Once")], 0.1)
    joiner = Joiner("generate", streamed)
    line = joiner.line(chat_line(" upon"))
    assert line is not None
    assert json.loads(line) == {"model": "m", "response": " upon", "done": False}
    final = {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True}
    merged = joiner.done({**final, "eval_count": 2}, total_ns=1)
    assert merged["response"] == "" and "message" not in merged and merged["eval_count"] == 3
