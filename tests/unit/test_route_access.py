"""Every route of the router declares its access rule, and each rule is the expected one.

Walks the routes of the real app (no server started): a route without a declared rule, a route
nobody listed here, or a rule that differs from this table fails. Adding a route means adding
its line here, on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from router.api.access import access_of, guard, route
from router.api.pages import VIEWS
from router.app import create_app
from router.auth import Keys
from router.config import load_settings

ADMIN = {
    ("POST", "/api/pull"),
    ("DELETE", "/api/delete"),
    ("POST", "/dashboard/api/settings"),
    ("POST", "/dashboard/api/pull"),
    ("POST", "/dashboard/api/delete"),
    ("POST", "/dashboard/api/benchmarks/start"),
    ("POST", "/dashboard/api/benchmarks/{run_id}/cancel"),
    ("POST", "/dashboard/api/nodes/{node_id}/identity/reset"),
    ("POST", "/dashboard/api/nodes/{node_id}/address/approve"),
    ("POST", "/dashboard/api/pulls"),
    ("POST", "/dashboard/api/pulls/{job_id}/cancel"),
}
OPEN = {
    ("GET", "/"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/"),
    *(("GET", f"/dashboard/{view}") for view in VIEWS),
    ("GET", "/dashboard/static/{path:path}"),
}
HEARTBEAT = {("POST", "/fleet/heartbeat")}
USE = {
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("POST", "/api/embed"),
    ("POST", "/api/embeddings"),
    ("POST", "/api/show"),
    ("GET", "/api/tags"),
    ("GET", "/api/ps"),
    ("GET", "/api/version"),
    ("GET", "/fleet/status"),
    ("GET", "/metrics"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model:path}"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/responses"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/api/generate-image"),
    ("POST", "/v1/images/generations"),
    ("GET", "/api/image-models"),
    ("POST", "/api/transcribe"),
    ("POST", "/v1/audio/transcriptions"),
    ("GET", "/dashboard/api/usage"),
    ("GET", "/dashboard/api/traces"),
    ("GET", "/dashboard/api/models"),
    ("GET", "/dashboard/api/apps"),
    ("GET", "/dashboard/api/trends"),
    ("GET", "/dashboard/api/health"),
    ("GET", "/dashboard/api/recommendations"),
    ("GET", "/dashboard/api/settings"),
    ("GET", "/dashboard/api/model-management"),
    ("GET", "/dashboard/api/benchmarks"),
    ("GET", "/dashboard/api/benchmarks/{run_id}"),
    ("GET", "/dashboard/events"),
    ("POST", "/dashboard/api/pulls/plan"),
    ("GET", "/dashboard/api/pulls"),
    ("GET", "/dashboard/api/pulls/{job_id}"),
}
EXPECTED = {
    **{key: "admin" for key in ADMIN},
    **{key: "open" for key in OPEN},
    **{key: "heartbeat" for key in HEARTBEAT},
    **{key: "use" for key in USE},
}


def test_every_route_declares_the_expected_rule(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    app = create_app(settings)
    seen: dict[tuple[str, str], str] = {}
    for item in app.routes:
        access = access_of(item)
        path = getattr(item, "path", repr(item))
        assert access is not None, f"{path} declares no access rule"
        methods = getattr(item, "methods", None) or {"*"}
        for method in methods - {"HEAD"}:
            seen[(method, path)] = access
    assert seen == EXPECTED


def test_a_route_without_a_rule_stops_the_app_from_being_built() -> None:
    async def endpoint(request: object) -> None:
        raise AssertionError("never called")

    declared = route("/x", endpoint, methods=["GET"], access="use")
    with pytest.raises(TypeError, match="/y declares no access rule"):
        guard([declared, Route("/y", endpoint, methods=["GET"])], Keys())
