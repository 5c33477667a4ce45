"""The router's settings: one pydantic model per process, and the runtime toggles that persist.

Precedence is command-line flag, then environment variable (``HERD_<FIELD>``), then default.
Runtime toggles (auto-pull, VRAM fallback, ...) can be changed through the API while the router
runs; they live in ``<data dir>/settings.json`` so a restart keeps them. This module never starts
anything; reading and writing the toggles file are the only I/O, done at start and on change.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from herd_contract.discovery import DEFAULT_ROUTER_PORT

DEFAULT_PORT = DEFAULT_ROUTER_PORT
DEFAULT_DATA_DIR = "~/.fleet-manager"


class RuntimeToggles(BaseModel):
    """Switches an operator may flip while the router runs (``POST /dashboard/api/settings``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)

    auto_pull: bool = Field(default=True, description="Pull a model missing everywhere.")
    vram_fallback: bool = Field(
        default=True, description="Prefer a loaded model of the same category over a cold load."
    )
    context_protection: bool = Field(
        default=True,
        description=(
            "Drop a num_ctx that would only force a needless reload; ask for a larger window "
            "when the prompt does not fit, and refuse one longer than the model's context."
        ),
    )
    context_fallback: bool = Field(
        default=False,
        description=(
            "When the prompt does not fit the requested model's loaded window, serve it with a "
            "loaded model of the same family whose window holds it, even without fallback_models."
        ),
    )
    session_affinity: bool = Field(
        default=True, description="Send a conversation back to the node that holds its cache."
    )
    zombie_reaper: bool = Field(default=True, description="Free slots of stalled requests.")
    restore_evicted: bool = Field(
        default=True,
        description=(
            "Load a model an eviction pushed off a node back onto it once that node is idle with "
            "room, while the model is in demand."
        ),
    )
    resume_streams: bool = Field(
        default=True,
        description=(
            "When a node fails in the middle of a streamed chat or generate answer, go on with "
            "the same answer on another node serving the model (off: end it with an error)."
        ),
    )
    reaper_timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    max_retries: int = Field(default=2, ge=0, le=5)
    trace_retention_days: int = Field(default=30, ge=1, le=3650)


class RouterSettings(BaseModel):
    """Everything the router process is configured with."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="0.0.0.0", description="Interface to listen on.")
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), description="Database, logs, settings.")
    fleet_token: str | None = Field(
        default=None, description="Shared secret nodes must send with heartbeats."
    )
    api_key: str | None = Field(default=None, description="Key for inference and read endpoints.")
    admin_key: str | None = Field(default=None, description="Key for pull, delete and settings.")
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    degraded_after_s: float = Field(default=15.0, gt=0)
    offline_after_s: float = Field(default=30.0, gt=0)
    forget_after_s: float = Field(
        default=86_400.0, gt=0, description="Drop an offline node from the registry after this."
    )
    mdns: bool = Field(default=True, description="Advertise the router over mDNS.")
    mdns_interfaces: list[str] = Field(
        default_factory=list, description="Interfaces to advertise on (empty: all)."
    )
    require_address_approval: bool = Field(
        default=False,
        description="Hold a node's change of address until the admin approves it.",
    )
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_queue_per_model: int = Field(default=256, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    first_byte_timeout_s: float = Field(
        default=600.0, gt=0, description="Upstream wait for a first byte (covers cold loads)."
    )
    read_timeout_s: float = Field(default=300.0, gt=0, description="Upstream gap between chunks.")
    first_byte_timeout_min_s: float = Field(
        default=20.0,
        gt=0,
        description="Floor of the adaptive first-byte timeout (ceiling: first_byte_timeout_s).",
    )
    breaker_failures: int = Field(
        default=3, ge=1, description="Consecutive failures before the first byte that open a node."
    )
    breaker_cooldown_s: float = Field(
        default=10.0, gt=0, description="How long an open node gets no requests before a probe."
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long in-flight streams may finish."
    )
    log_level: str = Field(default="info")
    log_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    log_backups: int = Field(default=5, ge=0)
    toggles: RuntimeToggles = Field(default_factory=RuntimeToggles)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def db_path(self) -> Path:
        return self.resolved_data_dir / "latency.db"

    @property
    def log_path(self) -> Path:
        return self.resolved_data_dir / "logs" / "herd.jsonl"

    @property
    def identities_path(self) -> Path:
        return self.resolved_data_dir / "node_identities.json"

    @property
    def toggles_path(self) -> Path:
        return self.resolved_data_dir / "settings.json"


ENV_PREFIX = "HERD_"
_TOGGLE_FIELDS = set(RuntimeToggles.model_fields)
_SETTING_FIELDS = set(RouterSettings.model_fields) - {"toggles"}


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in _SETTING_FIELDS | _TOGGLE_FIELDS:
        raw = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if raw is None or raw == "":
            continue
        field = (RouterSettings.model_fields | RuntimeToggles.model_fields)[name]
        if field.annotation is not None and "list" in str(field.annotation):
            found[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            found[name] = raw
    return found


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> RouterSettings:
    """Build the settings: ``overrides`` (flags) beat the environment, which beats defaults.

    Persisted runtime toggles from an earlier run beat defaults and environment alike, because the
    operator changed them on purpose while the router ran; flags still win.
    """
    environ = dict(os.environ) if environ is None else environ
    merged = _from_env(environ)
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    toggle_values = {k: merged.pop(k) for k in list(merged) if k in _TOGGLE_FIELDS}
    settings = RouterSettings.model_validate(merged)
    persisted = read_persisted_toggles(settings.toggles_path)
    flag_toggles = {
        k: v for k, v in (overrides or {}).items() if k in _TOGGLE_FIELDS and v is not None
    }
    env_toggles = {k: v for k, v in toggle_values.items() if k not in flag_toggles}
    combined = {**env_toggles, **persisted, **flag_toggles}
    settings.toggles = RuntimeToggles.model_validate(
        combined, strict=False
    )  # env values arrive as strings
    return settings


def read_persisted_toggles(path: Path) -> dict[str, Any]:
    """The toggles saved by an earlier run; unknown or invalid entries are ignored."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    valid: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _TOGGLE_FIELDS:
            continue
        try:
            RuntimeToggles.model_validate({key: value})
        except ValidationError:
            continue
        valid[key] = value
    return valid


def write_persisted_toggles(path: Path, toggles: RuntimeToggles) -> None:
    """Save the toggles atomically (write a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(toggles.model_dump(), indent=2, sort_keys=True))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()  # the old file stays as it was
        raise
