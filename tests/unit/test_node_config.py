"""herd-node settings: flags beat HERD_NODE_* beat documented names beat defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from node.config import (
    DEFAULT_OLLAMA_HOST,
    load_node_settings,
    normalize_ollama_host,
    sanitize_node_id,
)


def test_defaults_without_flags_or_environment() -> None:
    settings = load_node_settings({}, environ={})
    assert settings.ollama_host == DEFAULT_OLLAMA_HOST
    assert settings.router_url is None
    assert settings.interval_s is None
    assert settings.effective_interval_s == 5.0
    assert settings.fleet_token is None
    assert settings.mdns_interfaces == []
    assert settings.node_id  # the host name, sanitised


def test_documented_names_are_honoured() -> None:
    settings = load_node_settings(
        {},
        environ={
            "OLLAMA_HOST": "0.0.0.0:11500",
            "HERD_FLEET_TOKEN": "secret",
            "OLLAMA_MODELS": "/data/models",
        },
    )
    assert settings.ollama_host == "http://127.0.0.1:11500"
    assert settings.fleet_token == "secret"
    assert settings.models_dir == "/data/models"


def test_herd_node_variables_beat_documented_names() -> None:
    settings = load_node_settings(
        {},
        environ={
            "OLLAMA_HOST": "http://a:1",
            "HERD_NODE_OLLAMA_HOST": "http://b:2",
            "HERD_FLEET_TOKEN": "shared",
            "HERD_NODE_FLEET_TOKEN": "specific",
            "HERD_NODE_INTERVAL_S": "0.5",
            "HERD_NODE_MDNS_INTERFACES": "127.0.0.1, 10.0.0.2",
        },
    )
    assert settings.ollama_host == "http://b:2"
    assert settings.fleet_token == "specific"
    assert settings.interval_s == 0.5
    assert settings.mdns_interfaces == ["127.0.0.1", "10.0.0.2"]


def test_flags_beat_environment_and_none_means_not_given() -> None:
    settings = load_node_settings(
        {
            "ollama_host": "http://c:3",
            "interval_s": 0.2,
            "router_url": "127.0.0.1:11435/",
            "fleet_token": None,
            "mdns_interfaces": ["127.0.0.1"],
        },
        environ={
            "HERD_NODE_OLLAMA_HOST": "http://b:2",
            "HERD_NODE_INTERVAL_S": "9",
            "HERD_FLEET_TOKEN": "from-env",
            "HERD_NODE_MDNS_INTERFACE": "10.0.0.9",
        },
    )
    assert settings.ollama_host == "http://c:3"
    assert settings.interval_s == 0.2
    assert settings.router_url == "http://127.0.0.1:11435"
    assert settings.fleet_token == "from-env"
    assert settings.mdns_interfaces == ["127.0.0.1"]


def test_simulate_mode_reports_the_simulator() -> None:
    settings = load_node_settings({"simulate": "laptop", "sim_port": 12001}, environ={})
    assert settings.ollama_url == "http://127.0.0.1:12001"


@pytest.mark.parametrize(
    "bad",
    [
        {"simulate": "mainframe"},
        {"interval_s": 0},
        {"node_id": "has space"},
        {"log_level": "chatty"},
        {"unknown_setting": 1},
    ],
)
def test_invalid_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        load_node_settings(bad, environ={})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "http://localhost:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("example.lan", "http://example.lan:11434"),
        ("example.lan:8080", "http://example.lan:8080"),
        ("http://10.0.0.5:11434/", "http://10.0.0.5:11434"),
        ("https://ollama.example", "https://ollama.example:443"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("http://host:11434/ollama", "http://host:11434/ollama"),
    ],
)
def test_ollama_host_normalisation(raw: str, expected: str) -> None:
    assert normalize_ollama_host(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MacBook-Pro", "MacBook-Pro"),
        ("Jane's Mac mini", "Jane-s-Mac-mini"),
        ("   ", "node"),
        ("a" * 300, "a" * 128),
    ],
)
def test_node_ids_are_made_wire_safe(raw: str, expected: str) -> None:
    assert sanitize_node_id(raw) == expected
