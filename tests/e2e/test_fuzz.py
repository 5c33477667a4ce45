"""Hostile and random input against every route of a real router: never a 500, never a hang.

Every route the app declares is exercised over ONE keep-alive connection to a router process
with a simulated node: a fixed corpus of known-hostile JSON tokens (deep nesting, lone
surrogates, 4,000-digit and infinite numbers, NaN, invalid UTF-8) planted in each field of a
valid body, then ``hypothesis`` mutating bodies, query strings and path ids. After every answer
the same socket must still be open, so uvicorn never dropped the connection; the router must
answer health checks afterwards.

``HERD_FUZZ_EXAMPLES`` sets examples per route (a few in ``make test``; ``make fuzz`` runs many).
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.app import create_app
from router.config import load_settings
from tests.factories import heartbeat
from tests.fleet import Fleet, running_fleet

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("HERD_FUZZ_EXAMPLES", "6"))
MODEL = "llama3.2:1b"
ABSENT = "fuzz-absent-model:latest"
"""Pull and delete bodies name a model no node has, so fuzzing never changes the fleet."""
PLACEHOLDER = "@@HOSTILE@@"
HOSTILE: list[bytes] = [
    b"[" * 3000 + b"]" * 3000,
    b"[" * 3000,
    b'{"a":' * 800 + b"1" + b"}" * 800,
    b'"\\ud800"',
    b'"a\\udfffb"',
    b"9" * 4000,
    b"-" + b"9" * 40,
    b"1e999",
    b"-1e999",
    b"NaN",
    b"Infinity",
    b'"\xff\xfe\xed\xa0\x80"',
    b"-1",
    b"0",
    b"1.5",
    b"true",
    b"null",
    b'""',
    b"{}",
    b"[]",
]
"""JSON tokens that broke the router before (RecursionError, UnicodeEncodeError, OverflowError)
or sit on a boundary."""

TEMPLATES: dict[str, dict[str, Any]] = {
    "/api/chat": {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "options": {"num_ctx": 2048, "num_predict": 4, "temperature": 0.5},
    },
    "/api/generate": {
        "model": MODEL,
        "prompt": "hi",
        "stream": False,
        "options": {"num_ctx": 2048, "num_predict": 4},
    },
    "/api/embed": {"model": "nomic-embed-text", "input": ["hi"]},
    "/api/embeddings": {"model": "nomic-embed-text", "prompt": "hi"},
    "/api/show": {"model": MODEL},
    "/api/pull": {"model": ABSENT, "stream": False},
    "/api/delete": {"model": ABSENT},
    "/v1/chat/completions": {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "temperature": 0.2,
    },
    "/v1/completions": {"model": MODEL, "prompt": "hi", "max_tokens": 4},
    "/v1/embeddings": {"model": "nomic-embed-text", "input": "hi"},
    "/v1/messages": {
        "model": MODEL,
        "max_tokens": 4,
        "messages": [{"role": "user", "content": "hi"}],
    },
    "/v1/messages/count_tokens": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": MODEL, "input": "hi", "max_output_tokens": 4},
    "/fleet/heartbeat": heartbeat("fuzz-node").model_dump(mode="json"),
    "/dashboard/api/settings": {"trace_retention_days": 30},
    "/dashboard/api/pull": {"model": ABSENT},
    "/dashboard/api/delete": {"model": ABSENT, "node_id": "fuzz-absent-node"},
    "/dashboard/api/benchmarks/start": {"models": [ABSENT], "duration_s": 0.1},
}
QUERY_NAMES = ["limit", "days", "hours", "since", "status", "model", "node_id", "tag"]
STARLETTE_MISSES = {b"Not Found", b"Method Not Allowed"}
"""A path no route matches (a fuzzed id with a slash) is answered by Starlette itself."""
SKIPPED = {"/dashboard/events"}
"""Server-sent events never end by design; their ``limit`` is covered by the dashboard tests."""


def _routes() -> list[tuple[str, str]]:
    app = create_app(load_settings({"data_dir": Path("/nonexistent"), "mdns": False}, environ={}))
    found: list[tuple[str, str]] = []
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD" and path not in SKIPPED:
                found.append((method, path))
    return found


ROUTES = _routes()
BODY_ROUTES = [(m, p) for m, p in ROUTES if m in ("POST", "DELETE")]
GET_ROUTES = [(m, p) for m, p in ROUTES if m == "GET"]


class Connection:
    """One keep-alive connection; every answer must leave it open."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        self.conn.connect()
        self.sock = self.conn.sock
        self.requests = 0

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"content-type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        self.requests += 1
        assert response.getheader("connection", "").lower() != "close", (method, path)
        assert self.conn.sock is self.sock, f"{method} {path} closed the keep-alive connection"
        return response.status, data


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("fuzz"), [("fz", "mini")]) as running:
        yield running


@pytest.fixture(scope="module")
def conn(fleet: Fleet) -> Iterator[Connection]:
    connection = Connection(fleet.router_url)
    yield connection
    connection.conn.close()


def _url_path(path: str, run_id: str = "1") -> str:
    return path.replace("{run_id}", urllib.parse.quote(run_id, safe=""))


def _check(status: int, data: bytes, method: str, path: str, body: bytes | None) -> None:
    shown = (body or b"")[:200]
    assert status != 500 and status < 600, f"{method} {path} {shown!r} -> {status} {data[:300]!r}"
    if status >= 400 and data not in STARLETTE_MISSES:
        error = json.loads(data)["error"]
        message = error["message"] if isinstance(error, dict) else error
        assert isinstance(message, str) and message


def _planted(template: dict[str, Any], field: str | None, token: bytes) -> bytes:
    """``template`` as JSON with ``token`` in place of ``field`` (or as the whole body)."""
    if field is None:
        return token
    body = dict(template)
    body[field] = PLACEHOLDER
    return json.dumps(body).encode().replace(json.dumps(PLACEHOLDER).encode(), token)


def _nested_fields(template: dict[str, Any]) -> list[str | None]:
    return [None, *template]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[p for _, p in BODY_ROUTES])
def test_hostile_tokens_in_every_field_get_a_clear_4xx(
    conn: Connection, method: str, path: str
) -> None:
    template = TEMPLATES.get(path, {})
    for field in _nested_fields(template):
        for token in HOSTILE:
            body = _planted(template, field, token)
            status, data = conn.send(method, _url_path(path), body)
            _check(status, data, method, path, body)


def test_hostile_numbers_are_refused_naming_the_field(conn: Connection) -> None:
    chat = TEMPLATES["/api/chat"]
    for token in (b"9" * 4000, b"1e999", b"0", b"-5"):
        body = json.dumps({**chat, "options": {"num_ctx": PLACEHOLDER}}).encode()
        body = body.replace(json.dumps(PLACEHOLDER).encode(), token)
        status, data = conn.send("POST", "/api/chat", body)
        assert status == 400 and "num_ctx" in json.loads(data)["error"], data
    body = json.dumps({**TEMPLATES["/v1/chat/completions"], "max_tokens": 0}).encode()
    status, data = conn.send("POST", "/v1/chat/completions", body)
    assert status == 400 and "max_tokens" in json.loads(data)["error"]["message"]
    status, data = conn.send(
        "POST", "/api/chat", _planted(chat, "messages", b'[{"role":"user","content":"\\ud800"}]')
    )
    assert status == 400 and "messages[0].content" in json.loads(data)["error"]
    status, data = conn.send("GET", "/dashboard/api/benchmarks/99999999999999999999")
    assert status == 404, data


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutated(path: str) -> st.SearchStrategy[bytes]:
    template = TEMPLATES.get(path, {})
    raw = st.binary(max_size=64)
    whole = json_values.map(lambda v: json.dumps(v).encode())
    if not template:
        return st.one_of(raw, whole)
    keys = st.sampled_from(sorted(template))
    replaced = st.tuples(keys, json_values).map(
        lambda kv: json.dumps({**template, kv[0]: kv[1]}).encode()
    )
    planted = st.tuples(keys, st.sampled_from(HOSTILE)).map(
        lambda kt: _planted(template, kt[0], kt[1])
    )
    return st.one_of(raw, whole, replaced, planted)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=EXAMPLES <= 20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[p for _, p in BODY_ROUTES])
def test_random_bodies_never_500(conn: Connection, method: str, path: str) -> None:
    @FUZZ
    @given(body=_mutated(path), run_id=st.text(max_size=24))
    def run(body: bytes, run_id: str) -> None:
        url = _url_path(path, run_id or "1")
        status, data = conn.send(method, url, body)
        _check(status, data, method, url, body)

    run()


@pytest.mark.parametrize(("method", "path"), GET_ROUTES, ids=[p for _, p in GET_ROUTES])
def test_random_queries_never_500(conn: Connection, method: str, path: str) -> None:
    @FUZZ
    @given(
        query=st.dictionaries(st.sampled_from(QUERY_NAMES), st.text(max_size=30), max_size=3),
        run_id=st.text(max_size=24) | st.integers().map(str),
    )
    def run(query: dict[str, str], run_id: str) -> None:
        url = _url_path(path, run_id or "1")
        if query:
            url += "?" + urllib.parse.urlencode(query)
        status, data = conn.send(method, url)
        _check(status, data, method, url, None)

    run()


def test_the_router_is_still_healthy_afterwards(fleet: Fleet, conn: Connection) -> None:
    status, data = conn.send("POST", "/api/chat", json.dumps(TEMPLATES["/api/chat"]).encode())
    assert status == 200, data
    assert json.loads(data)["done"] is True
    assert fleet.router.alive()
    assert "Traceback" not in fleet.router.output()
