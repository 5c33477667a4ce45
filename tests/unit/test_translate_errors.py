"""TranslationError and every error rendering."""

from __future__ import annotations

import json

import pytest

from router.errors import HerdError, NoCapacity
from router.translate import (
    TranslationError,
    error_status,
    ollama_error_body,
    ollama_error_line,
    openai_error_body,
    openai_error_event,
    openai_error_type,
)


def test_translation_error_fields_and_defaults():
    err = TranslationError("bad thing")
    assert (err.message, err.status, err.param, err.code) == ("bad thing", 400, None, None)
    assert str(err) == "bad thing"
    assert isinstance(err, HerdError)  # one `except HerdError` at the edge catches it
    full = TranslationError("nope", 422, "messages[0]", "invalid_x")
    assert (full.status, full.param, full.code) == (422, "messages[0]", "invalid_x")
    assert "messages[0]" in repr(full)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_openai_error_type(status, kind):
    assert openai_error_type(status) == kind


def test_ollama_body():
    assert ollama_error_body("model 'x' not found") == {"error": "model 'x' not found"}
    assert ollama_error_body(TranslationError("bad")) == {"error": "bad"}


def test_openai_body_from_exception():
    err = TranslationError(
        "bad image", 400, "messages[0].content[1].image_url", "image_url_not_supported"
    )
    assert openai_error_body(err) == {
        "error": {
            "message": "bad image",
            "type": "invalid_request_error",
            "param": "messages[0].content[1].image_url",
            "code": "image_url_not_supported",
        }
    }


def test_openai_body_from_message_and_overrides():
    assert openai_error_body("busy", 503) == {
        "error": {"message": "busy", "type": "server_error", "param": None, "code": None}
    }
    assert openai_error_body("gone", 404, code="model_not_found")["error"] == {
        "message": "gone",
        "type": "not_found_error",
        "param": None,
        "code": "model_not_found",
    }
    assert openai_error_body("x")["error"]["type"] == "server_error"


def test_openai_body_from_other_herd_errors():
    body = openai_error_body(NoCapacity("all queues full"))
    assert body["error"]["message"] == "all queues full"
    assert body["error"]["type"] == "server_error"
    assert body["error"]["code"] == "unavailable"


def test_untyped_exception_text_not_leaked():
    secret = RuntimeError("/home/user/.secret path leaked")
    assert ollama_error_body(secret) == {"error": "internal server error"}
    body = openai_error_body(secret)
    assert body["error"]["message"] == "internal server error"
    assert body["error"]["type"] == "server_error"
    assert error_status(secret) == 500
    assert error_status(TranslationError("x", 413)) == 413


def test_ollama_error_line():
    line = ollama_error_line("runner crashed")
    assert line == b'{"error":"runner crashed"}\n'
    assert json.loads(line) == {"error": "runner crashed"}


def test_openai_error_event():
    event = openai_error_event("runner crashed", 500)
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[len(b"data: ") :]) == {
        "error": {"message": "runner crashed", "type": "server_error", "param": None, "code": None}
    }
    from_exc = openai_error_event(TranslationError("bad", 400, "p", "c"))
    assert json.loads(from_exc[6:])["error"] == {
        "message": "bad",
        "type": "invalid_request_error",
        "param": "p",
        "code": "c",
    }


def test_unicode_messages_render_as_utf8():
    assert ollama_error_line("modèle absent") == '{"error":"modèle absent"}\n'.encode()
