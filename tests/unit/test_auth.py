"""Access rules: fleet token for heartbeats, admin key (or loopback) for changes, API key."""

from __future__ import annotations

import pytest

from router.auth import Keys, authorize, classify
from router.errors import Forbidden, Unauthorized


@pytest.mark.parametrize(
    ("method", "path", "access"),
    [
        ("POST", "/fleet/heartbeat", "heartbeat"),
        ("POST", "/api/pull", "admin"),
        ("DELETE", "/api/delete", "admin"),
        ("POST", "/dashboard/api/settings", "admin"),
        ("GET", "/dashboard/api/settings", "use"),
        ("POST", "/dashboard/api/benchmarks/start", "admin"),
        ("POST", "/api/chat", "use"),
        ("GET", "/fleet/status", "use"),
        ("GET", "/", "open"),
        ("GET", "/dashboard", "open"),
    ],
)
def test_classification(method: str, path: str, access: str) -> None:
    assert classify(method, path) == access


def test_everything_is_open_without_keys_from_loopback() -> None:
    for method, path in [
        ("POST", "/api/chat"),
        ("POST", "/api/pull"),
        ("POST", "/fleet/heartbeat"),
    ]:
        assert authorize(method, path, Keys(), None, "127.0.0.1") is None


def test_admin_calls_from_elsewhere_need_an_admin_key() -> None:
    error = authorize("POST", "/dashboard/api/pull", Keys(), None, "192.168.1.7")
    assert isinstance(error, Forbidden) and "HERD_ADMIN_KEY" in error.message
    assert authorize("POST", "/api/chat", Keys(), None, "192.168.1.7") is None


def test_admin_key_is_required_when_set_even_from_loopback() -> None:
    keys = Keys(admin_key="s3cret")
    assert isinstance(authorize("POST", "/api/pull", keys, None, "127.0.0.1"), Unauthorized)
    assert isinstance(
        authorize("POST", "/api/pull", keys, "Bearer wrong", "127.0.0.1"), Unauthorized
    )
    assert authorize("POST", "/api/pull", keys, "Bearer s3cret", "10.1.1.1") is None


def test_api_key_guards_use_and_the_admin_key_works_too() -> None:
    keys = Keys(api_key="use-key", admin_key="admin-key")
    assert isinstance(authorize("POST", "/api/chat", keys, None, "127.0.0.1"), Unauthorized)
    assert authorize("POST", "/api/chat", keys, "Bearer use-key", "10.0.0.2") is None
    assert authorize("GET", "/fleet/status", keys, "Bearer admin-key", "10.0.0.2") is None
    assert authorize("GET", "/", keys, None, "10.0.0.2") is None


def test_fleet_token_guards_heartbeats() -> None:
    keys = Keys(fleet_token="tok")
    assert isinstance(authorize("POST", "/fleet/heartbeat", keys, None, "127.0.0.1"), Unauthorized)
    assert authorize("POST", "/fleet/heartbeat", keys, "Bearer tok", "10.0.0.3") is None
