"""Access rules: fleet token for heartbeats, admin key (or loopback) for changes, API key."""

from __future__ import annotations

from router.auth import Keys, authorize
from router.errors import Forbidden, Unauthorized


def test_everything_is_open_without_keys_from_loopback() -> None:
    for access in ("use", "admin", "heartbeat", "open"):
        assert authorize(access, Keys(), None, "127.0.0.1") is None


def test_admin_calls_from_elsewhere_need_an_admin_key() -> None:
    error = authorize("admin", Keys(), None, "192.168.1.7")
    assert isinstance(error, Forbidden) and "HERD_ADMIN_KEY" in error.message
    assert authorize("use", Keys(), None, "192.168.1.7") is None


def test_admin_key_is_required_when_set_even_from_loopback() -> None:
    keys = Keys(admin_key="s3cret")
    assert isinstance(authorize("admin", keys, None, "127.0.0.1"), Unauthorized)
    assert isinstance(authorize("admin", keys, "Bearer wrong", "127.0.0.1"), Unauthorized)
    assert authorize("admin", keys, "Bearer s3cret", "10.1.1.1") is None


def test_api_key_guards_use_and_the_admin_key_works_too() -> None:
    keys = Keys(api_key="use-key", admin_key="admin-key")
    assert isinstance(authorize("use", keys, None, "127.0.0.1"), Unauthorized)
    assert authorize("use", keys, "Bearer use-key", "10.0.0.2") is None
    assert authorize("use", keys, "Bearer admin-key", "10.0.0.2") is None
    assert authorize("open", keys, None, "10.0.0.2") is None


def test_fleet_token_guards_heartbeats() -> None:
    keys = Keys(fleet_token="tok")
    assert isinstance(authorize("heartbeat", keys, None, "127.0.0.1"), Unauthorized)
    assert authorize("heartbeat", keys, "Bearer tok", "10.0.0.3") is None
