"""The node agent's settings: one pydantic model, read from flags, then environment, then defaults.

Precedence, highest first:

1. command-line flags (passed in as ``overrides``),
2. ``HERD_NODE_<FIELD>`` environment variables (``HERD_NODE_ROUTER_URL``, ``HERD_NODE_INTERVAL_S``),
3. the documented names users already set for other tools: ``OLLAMA_HOST`` (where Ollama listens),
   ``OLLAMA_MODELS`` (its models directory), ``HERD_FLEET_TOKEN`` (the fleet's shared secret),
4. defaults.

This module does no I/O besides reading the environment mapping it is given, and never starts
anything. Normalising ``OLLAMA_HOST`` (Ollama accepts ``host``, ``host:port`` or a URL) into a base
URL the agent can reach is a pure function here.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_OLLAMA_PORT = 11434
DEFAULT_OLLAMA_HOST = f"http://localhost:{DEFAULT_OLLAMA_PORT}"
DEFAULT_INTERVAL_S = 5.0
DEFAULT_GATEWAY_PORT = 11436
ENV_PREFIX = "HERD_NODE_"
SIM_PROFILES = ("workstation", "laptop", "mini")

# Documented environment names shared with other tools, and the setting each one feeds.
DOCUMENTED_ENV: dict[str, str] = {
    "OLLAMA_HOST": "ollama_host",
    "OLLAMA_MODELS": "models_dir",
    "HERD_FLEET_TOKEN": "fleet_token",
}

_NODE_ID_BAD = re.compile(r"[^A-Za-z0-9._:@-]+")
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


def sanitize_node_id(raw: str) -> str:
    """A node id the wire contract accepts (``[A-Za-z0-9._:@-]``, 1-128 chars) from any name."""
    cleaned = _NODE_ID_BAD.sub("-", raw.strip()).strip("-")
    return cleaned[:128] or "node"


def default_node_id() -> str:
    """The host name, without its domain, made safe for the wire."""
    return sanitize_node_id(socket.gethostname().split(".")[0])


def normalize_ollama_host(raw: str) -> str:
    """Turn an ``OLLAMA_HOST``-style value into a base URL: scheme, reachable host, port.

    ``0.0.0.0:11434`` -> ``http://127.0.0.1:11434`` (a wildcard listen address is reached over
    loopback), ``example`` -> ``http://example:11434``, ``https://h`` -> ``https://h:443``.
    """
    value = raw.strip().rstrip("/")
    if not value:
        return DEFAULT_OLLAMA_HOST
    if "://" not in value:
        value = f"http://{value}"
    parts = urlsplit(value)
    scheme = parts.scheme or "http"
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if scheme == "https" and ":" not in parts.netloc else DEFAULT_OLLAMA_PORT
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}:{port}{path}"


class NodeSettings(BaseModel):
    """Everything one ``herd-node`` process is configured with."""

    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(
        default_factory=default_node_id,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:@-]+$",
        description="How the router names this device (default: the host name).",
    )
    ollama_host: str = Field(
        default=DEFAULT_OLLAMA_HOST,
        description="Base URL of this device's Ollama, as the router should reach it.",
    )
    router_url: str | None = Field(
        default=None, description="The router's base URL; skips mDNS discovery when set."
    )
    interval_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Seconds between heartbeats; unset means the router's advice (default 5).",
    )
    fleet_token: str | None = Field(default=None, description="Shared secret for heartbeats.")
    mdns_interfaces: list[str] = Field(
        default_factory=list,
        description="Interface addresses zeroconf may use (empty: all). Tests use 127.0.0.1.",
    )
    router_name: str | None = Field(
        default=None,
        description="Accept only the mDNS router of this instance name (several fleets, one LAN).",
    )
    discovery_timeout_s: float = Field(default=5.0, gt=0, le=600)
    discovery_max_backoff_s: float = Field(default=30.0, gt=0, le=3600)
    rediscover_after_failures: int = Field(
        default=3, ge=1, le=1000, description="Browse again after this many failed heartbeats."
    )
    request_timeout_s: float = Field(default=5.0, gt=0, le=600)
    models_dir: str | None = Field(default=None, description="Ollama's models directory.")
    key_file: str | None = Field(
        default=None,
        description="Where the node key the router issued is kept (default "
        "~/.herd-node/<node id>.key; in memory only with --simulate).",
    )
    simulate: str | None = Field(default=None, description="Run the simulator with this profile.")
    sim_port: int = Field(default=DEFAULT_OLLAMA_PORT, ge=0, le=65535)
    sim_host: str = Field(default="127.0.0.1", description="Where the simulator listens.")
    sim_time_scale: float | None = Field(default=None, ge=0, description="0: never sleep.")
    sim_memory_gb: float | None = Field(
        default=None, gt=0, description="Simulated memory, overriding the profile's."
    )
    log_level: str = Field(default="info")
    data_dir: str = Field(
        default="~/.fleet-manager",
        description="Where the node keeps backends.json and image-job temporary files.",
    )
    backends: list[str] = Field(
        default_factory=list,
        description="Backends besides the default Ollama: KIND[/ADAPTER][=URL][#MODEL,...].",
    )
    discover_backends: bool = Field(
        default=True, description="Add mflux and Qwen3-ASR when their programs are installed."
    )
    gateway_host: str = Field(default="0.0.0.0", description="Where the job gateway listens.")
    gateway_port: int = Field(
        default=DEFAULT_GATEWAY_PORT, ge=0, le=65535, description="The job gateway's port."
    )
    sim_models: list[str] | None = Field(
        default=None,
        description="The models on the simulator's disk, instead of the profile's (any in its"
        " catalogue, Ollama's image models x/z-image-turbo and x/flux2-klein included); names"
        " that all start with + are added to the profile's.",
    )
    sim_image: bool = Field(default=False, description="Simulate an image server too.")
    sim_speech: bool = Field(default=False, description="Simulate a Qwen3-ASR server too.")

    @field_validator("ollama_host")
    @classmethod
    def _normalize_ollama(cls, value: str) -> str:
        return normalize_ollama_host(value)

    @field_validator("router_url")
    @classmethod
    def _normalize_router(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        return value if "://" in value else f"http://{value}"

    @field_validator("simulate")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in SIM_PROFILES:
            raise ValueError(
                f"unknown simulator profile {value!r}; one of {', '.join(SIM_PROFILES)}"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError(f"unknown log level {value!r}")
        return value

    @property
    def effective_interval_s(self) -> float:
        return self.interval_s if self.interval_s is not None else DEFAULT_INTERVAL_S

    @property
    def ollama_url(self) -> str:
        """The Ollama base URL the agent reads and reports (the simulator's in simulate mode)."""
        if self.simulate is not None:
            host = "127.0.0.1" if self.sim_host in _WILDCARD_HOSTS else self.sim_host
            return f"http://{host}:{self.sim_port}"
        return self.ollama_host

    @property
    def gateway_url(self) -> str:
        """The job gateway as this node reports it (the router swaps a loopback host)."""
        host = "127.0.0.1" if self.gateway_host in _WILDCARD_HOSTS else self.gateway_host
        return f"http://{host}:{self.gateway_port}"


_LIST_SEPARATORS = {"mdns_interfaces": ",", "backends": ";", "sim_models": ","}


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for env_name, field in DOCUMENTED_ENV.items():
        raw = environ.get(env_name)
        if raw:
            found[field] = raw
    for field in NodeSettings.model_fields:
        raw = environ.get(f"{ENV_PREFIX}{field.upper()}")
        if raw is None or raw == "":
            continue
        if field in _LIST_SEPARATORS:
            parts = raw.split(_LIST_SEPARATORS[field])
            found[field] = [part.strip() for part in parts if part.strip()]
        else:
            found[field] = raw
    # A singular spelling is friendlier for the common one-interface case.
    single = environ.get(f"{ENV_PREFIX}MDNS_INTERFACE")
    if single and "mdns_interfaces" not in found:
        found["mdns_interfaces"] = [part.strip() for part in single.split(",") if part.strip()]
    return found


def load_node_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> NodeSettings:
    """Flags (``overrides``; ``None`` means "not given") beat the environment, then defaults."""
    environ = os.environ if environ is None else environ
    merged = _env_values(environ)
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return NodeSettings.model_validate(merged)
