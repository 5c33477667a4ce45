"""OpenAI request bodies -> Ollama request bodies."""

from __future__ import annotations

import base64
import json

import pytest

from router.translate import (
    TranslationError,
    chat_request_to_ollama,
    completion_request_to_ollama,
    data_url_image,
    include_usage,
    tool_arguments_to_object,
)
from tests.factories import WEATHER_TOOL

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x01" * 16).decode()

TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def chat(**fields):
    body = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}
    body.update(fields)
    return chat_request_to_ollama(body)


def raises(fn, *args, **kwargs) -> TranslationError:
    with pytest.raises(TranslationError) as info:
        fn(*args, **kwargs)
    assert info.value.status == 400
    return info.value


# --- basics ---


def test_minimal_chat_sets_stream_false_explicitly():
    out = chat()
    assert out == {
        "model": "llama3",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


def test_stream_true_kept():
    assert chat(stream=True)["stream"] is True


def test_stream_must_be_boolean():
    assert raises(chat, stream="yes").param == "stream"


def test_openai_only_fields_not_forwarded():
    out = chat(user="bob", n=1, logit_bias={}, logprobs=False, metadata={"a": "b"}, store=False)
    assert set(out) == {"model", "messages", "stream"}


def test_input_body_not_mutated():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": "END"}
    snapshot = json.dumps(body, sort_keys=True)
    chat_request_to_ollama(body)
    assert json.dumps(body, sort_keys=True) == snapshot


@pytest.mark.parametrize("model", [None, "", "  ", 5])
def test_model_required(model):
    body = {"messages": []} if model is None else {"model": model, "messages": []}
    assert raises(chat_request_to_ollama, body).param == "model"


def test_messages_must_be_list():
    assert raises(chat_request_to_ollama, {"model": "m", "messages": "hi"}).param == "messages"


def test_message_must_be_object():
    assert raises(chat, messages=["hi"]).param == "messages[0]"


def test_unknown_role_refused():
    err = raises(chat, messages=[{"role": "robot", "content": "x"}])
    assert err.param == "messages[0].role"


def test_n_greater_than_one_refused():
    assert raises(chat, n=2).param == "n"


# --- options ---


def test_sampling_fields_go_to_options():
    out = chat(temperature=0.2, top_p=0.9, seed=42, frequency_penalty=0.5, presence_penalty=-0.5)
    assert out["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 42,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
    }


def test_zero_values_kept():
    out = chat(temperature=0, seed=0)
    assert out["options"] == {"temperature": 0, "seed": 0}


def test_null_fields_ignored():
    out = chat(temperature=None, stop=None, max_tokens=None, seed=None, response_format=None)
    assert "options" not in out and "format" not in out


@pytest.mark.parametrize("field", ["temperature", "top_p", "frequency_penalty", "presence_penalty"])
def test_number_fields_validated(field):
    assert raises(chat, **{field: "hot"}).param == field


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_seed_must_be_integer(seed):
    assert raises(chat, seed=seed).param == "seed"


def test_max_tokens_to_num_predict():
    assert chat(max_tokens=64)["options"] == {"num_predict": 64}


def test_max_completion_tokens_to_num_predict_and_wins():
    assert chat(max_completion_tokens=10)["options"] == {"num_predict": 10}
    assert chat(max_completion_tokens=10, max_tokens=99)["options"] == {"num_predict": 10}


def test_max_tokens_must_be_integer():
    assert raises(chat, max_tokens=1.5).param == "max_tokens"


def test_stop_string_becomes_list():
    assert chat(stop="END")["options"] == {"stop": ["END"]}


def test_stop_list_kept():
    assert chat(stop=["a", "b"])["options"] == {"stop": ["a", "b"]}


@pytest.mark.parametrize("stop", [5, ["a", 1], {"x": 1}])
def test_stop_validated(stop):
    assert raises(chat, stop=stop).param == "stop"


def test_ollama_options_extension_merged_under_mapped_fields():
    out = chat(options={"num_ctx": 8192, "temperature": 1.0}, temperature=0.1, keep_alive="10m")
    assert out["options"] == {"num_ctx": 8192, "temperature": 0.1}
    assert out["keep_alive"] == "10m"


def test_options_extension_must_be_object():
    assert raises(chat, options=[1]).param == "options"


# --- response_format, think, stream_options ---


def test_response_format_json_object():
    assert chat(response_format={"type": "json_object"})["format"] == "json"


def test_response_format_json_schema():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = chat(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    assert out["format"] == schema


def test_response_format_text_means_no_format():
    assert "format" not in chat(response_format={"type": "text"})


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"schema": "x"}},
        {"type": "xml"},
        "json",
    ],
)
def test_response_format_validated(fmt):
    assert raises(chat, response_format=fmt).param.startswith("response_format")


@pytest.mark.parametrize(
    ("effort", "think"),
    [("low", "low"), ("medium", "medium"), ("high", "high"), ("none", False), ("minimal", "low")],
)
def test_reasoning_effort_to_think(effort, think):
    assert chat(reasoning_effort=effort)["think"] == think


def test_reasoning_object_effort_to_think():
    assert chat(reasoning={"effort": "high"})["think"] == "high"


def test_reasoning_effort_validated():
    assert raises(chat, reasoning_effort="extreme").param == "reasoning_effort"


def test_think_extension_passes_and_effort_wins():
    assert chat(think=True)["think"] is True
    assert chat(think=True, reasoning_effort="none")["think"] is False
    assert "think" not in chat()


def test_include_usage():
    assert include_usage({"stream": True, "stream_options": {"include_usage": True}})
    assert not include_usage({"stream": True, "stream_options": {"include_usage": False}})
    assert not include_usage({"stream": True})
    assert not include_usage({"stream_options": "yes"})


def test_stream_options_must_be_object():
    assert raises(chat, stream=True, stream_options=True).param == "stream_options"


# --- tools ---


def test_tools_kept_with_same_shape():
    out = chat(tools=[WEATHER_TOOL, TIME])
    assert out["tools"] == [WEATHER_TOOL, TIME]


@pytest.mark.parametrize("choice", [None, "auto", "required"])
def test_tool_choice_keeping_all_tools(choice):
    assert chat(tools=[WEATHER_TOOL, TIME], tool_choice=choice)["tools"] == [WEATHER_TOOL, TIME]


def test_tool_choice_none_drops_tools():
    assert "tools" not in chat(tools=[WEATHER_TOOL, TIME], tool_choice="none")


def test_tool_choice_named_function_keeps_only_it():
    choice = {"type": "function", "function": {"name": "get_time"}}
    assert chat(tools=[WEATHER_TOOL, TIME], tool_choice=choice)["tools"] == [TIME]


def test_tool_choice_unknown_name_refused():
    choice = {"type": "function", "function": {"name": "nope"}}
    assert raises(chat, tools=[WEATHER_TOOL], tool_choice=choice).param == "tool_choice"


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function"}, 3])
def test_tool_choice_validated(choice):
    assert raises(chat, tools=[WEATHER_TOOL], tool_choice=choice).param == "tool_choice"


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ("x", "tools"),
        ([{"type": "function"}], "tools[0]"),
        ([{"type": "code", "function": {"name": "a"}}], "tools[0].type"),
    ],
)
def test_tools_validated(tools, param):
    assert raises(chat, tools=tools).param == param


def test_empty_tools_list_not_sent():
    assert "tools" not in chat(tools=[])


# --- messages: roles and content ---


def test_developer_role_becomes_system():
    out = chat(messages=[{"role": "developer", "content": "be brief"}])
    assert out["messages"] == [{"role": "system", "content": "be brief"}]


def test_text_parts_joined_with_newline():
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    out = chat(messages=[{"role": "user", "content": parts}])
    assert out["messages"] == [{"role": "user", "content": "one\ntwo"}]


def test_null_content_is_empty_string():
    out = chat(messages=[{"role": "assistant", "content": None}])
    assert out["messages"] == [{"role": "assistant", "content": ""}]


@pytest.mark.parametrize("media", ["png", "jpeg"])
def test_data_url_images_to_base64_images(media):
    payload = PNG if media == "png" else JPEG
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/{media};base64,{payload}"}},
    ]
    out = chat(messages=[{"role": "user", "content": parts}])
    assert out["messages"] == [{"role": "user", "content": "what is this?", "images": [payload]}]


def test_image_url_as_plain_string_and_several_images():
    parts = [
        {"type": "image_url", "image_url": f"data:image/png;base64,{PNG}"},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/jpeg;base64,{JPEG}", "detail": "low"},
        },
    ]
    out = chat(messages=[{"role": "user", "content": parts}])
    assert out["messages"][0]["images"] == [PNG, JPEG]
    assert out["messages"][0]["content"] == ""


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest", "https://example.com/cat.png", "HTTPS://x/y.png"]
)
def test_http_image_url_refused_never_fetched(url):
    parts = [{"type": "image_url", "image_url": {"url": url}}]
    err = raises(chat, messages=[{"role": "user", "content": parts}])
    assert err.code == "image_url_not_supported"
    assert err.param == "messages[0].content[0].image_url"
    assert "data:" in err.message


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,not*base64!",
        "data:image/png;base64,abc",  # bad padding
        "data:image/png;base64,",
        "data:image/png,rawbytes",
        "data:text/plain;base64," + PNG,
        "data:image/png;base64",
        "ftp://host/x.png",
        "file:///etc/passwd",
    ],
)
def test_bad_data_urls_refused(url):
    parts = [{"type": "image_url", "image_url": {"url": url}}]
    err = raises(chat, messages=[{"role": "user", "content": parts}])
    assert err.param == "messages[0].content[0].image_url"


def test_image_url_must_be_string():
    assert raises(data_url_image, {"url": 5}, "p").param == "p"


def test_data_url_image_returns_payload():
    assert data_url_image(f"data:image/png;base64,{PNG}", "p") == PNG
    assert data_url_image({"url": f"DATA:image/jpeg;base64,{JPEG}"}, "p") == JPEG


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {}},
        {"type": "file"},
        "text",
        {"type": "text", "text": 5},
    ],
)
def test_unsupported_content_parts_refused(part):
    err = raises(chat, messages=[{"role": "user", "content": [part]}])
    assert err.param.startswith("messages[0].content[0]")


def test_content_must_be_string_or_list():
    assert raises(chat, messages=[{"role": "user", "content": 5}]).param == "messages[0].content"


# --- tool calls in history ---


def test_assistant_tool_calls_string_arguments_become_object():
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Paris", "days": 2}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    out = chat(messages=messages, tools=[WEATHER_TOOL])
    assistant, tool = out["messages"][1], out["messages"][2]
    assert assistant == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}},
                "id": "call_1",
            }
        ],
    }
    # The tool's name is found from the earlier call's id.
    assert tool == {
        "role": "tool",
        "content": "sunny",
        "tool_name": "get_weather",
        "tool_call_id": "call_1",
    }


def test_tool_message_explicit_name_wins():
    messages = [{"role": "tool", "tool_call_id": "x", "name": "lookup", "content": "42"}]
    assert chat(messages=messages)["messages"] == [
        {"role": "tool", "content": "42", "tool_name": "lookup", "tool_call_id": "x"}
    ]


def test_legacy_function_role_becomes_tool():
    messages = [{"role": "function", "name": "lookup", "content": "42"}]
    assert chat(messages=messages)["messages"] == [
        {"role": "tool", "content": "42", "tool_name": "lookup"}
    ]


def test_tool_message_with_text_parts():
    messages = [{"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "ok"}]}]
    assert chat(messages=messages)["messages"][0]["content"] == "ok"


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"str"', "5"])
def test_invalid_tool_arguments_refused(arguments):
    messages = [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
            ],
        }
    ]
    err = raises(chat, messages=messages)
    assert err.param == "messages[0].tool_calls[0].function.arguments"
    assert err.code == "invalid_tool_arguments"


def test_tool_arguments_lenient_forms():
    assert tool_arguments_to_object("", "p") == {}
    assert tool_arguments_to_object(None, "p") == {}
    assert tool_arguments_to_object({"a": 1}, "p") == {"a": 1}
    assert tool_arguments_to_object('{"a": [1, {"b": null}]}', "p") == {"a": [1, {"b": None}]}
    assert raises(tool_arguments_to_object, 5, "p").param == "p"


def test_tool_call_without_name_refused():
    messages = [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}]
    assert raises(chat, messages=messages).param == "messages[0].tool_calls[0]"


def test_tool_calls_must_be_list():
    messages = [{"role": "assistant", "tool_calls": {"id": "c"}}]
    assert raises(chat, messages=messages).param == "messages[0].tool_calls"


def test_assistant_reasoning_becomes_thinking():
    messages = [{"role": "assistant", "content": "4", "reasoning": "2+2"}]
    assert chat(messages=messages)["messages"][0] == {
        "role": "assistant",
        "content": "4",
        "thinking": "2+2",
    }
    messages = [{"role": "assistant", "content": "4", "reasoning_content": "2+2"}]
    assert chat(messages=messages)["messages"][0]["thinking"] == "2+2"


# --- /v1/completions ---


def test_completion_request_maps_to_generate():
    body = {
        "model": "qwen3:8b",
        "prompt": "def add(",
        "suffix": "return c",
        "max_tokens": 32,
        "temperature": 0.3,
        "top_p": 0.8,
        "stop": ["\n\n"],
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "x",
        "logit_bias": {},
    }
    assert completion_request_to_ollama(body) == {
        "model": "qwen3:8b",
        "prompt": "def add(",
        "suffix": "return c",
        "stream": True,
        "options": {
            "temperature": 0.3,
            "top_p": 0.8,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "seed": 7,
            "num_predict": 32,
            "stop": ["\n\n"],
        },
    }


def test_completion_prompt_single_item_list_accepted():
    out = completion_request_to_ollama({"model": "m", "prompt": ["hello"]})
    assert out == {"model": "m", "prompt": "hello", "stream": False}


@pytest.mark.parametrize("prompt", [[1, 2, 3], [[1, 2]], ["a", "b"], 5, []])
def test_completion_prompt_validated(prompt):
    assert raises(completion_request_to_ollama, {"model": "m", "prompt": prompt}).param == "prompt"


def test_completion_token_prompt_has_clear_message():
    err = raises(completion_request_to_ollama, {"model": "m", "prompt": [1, 2]})
    assert "token" in err.message


@pytest.mark.parametrize(
    ("field", "value"), [("echo", True), ("best_of", 3), ("n", 2), ("suffix", 5)]
)
def test_completion_unsupported_values_refused(field, value):
    assert (
        raises(completion_request_to_ollama, {"model": "m", "prompt": "x", field: value}).param
        == field
    )


def test_completion_default_values_accepted():
    out = completion_request_to_ollama(
        {"model": "m", "prompt": "x", "echo": False, "best_of": 1, "n": 1}
    )
    assert out == {"model": "m", "prompt": "x", "stream": False}


def test_completion_reasoning_effort():
    out = completion_request_to_ollama({"model": "m", "prompt": "x", "reasoning_effort": "low"})
    assert out["think"] == "low"
