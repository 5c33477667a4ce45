"""Which backends a node has: the ``--backend`` flag syntax, ``backends.json``, programs found on
PATH, and the order in which they combine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.backends import inventory
from node.backends.inventory import Backends, BackendSpec, ConfigError, parse_flag


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("openai=http://127.0.0.1:8080/", ("openai", "openai", "http://127.0.0.1:8080", None)),
        (
            "image/openai=http://gpu:7860#sdxl, flux",
            ("image", "openai", "http://gpu:7860", ["sdxl", "flux"]),
        ),
        ("image", ("image", "mflux", None, None)),
        ("stt/qwen3-asr", ("stt", "qwen3-asr", None, None)),
        ("stt/openai=http://h:9000#whisper-1", ("stt", "openai", "http://h:9000", ["whisper-1"])),
    ],
)
def test_flag_syntax(flag: str, expected: tuple[object, ...]) -> None:
    spec = parse_flag(flag)
    assert (spec.kind, spec.adapter, spec.url, spec.models) == expected


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("video=http://x", "kind"),
        ("image/dalle=http://x", "adapters mflux, openai"),
        ("openai", "needs a URL"),
        ("stt/openai", "needs a URL"),
    ],
)
def test_bad_flags_say_what_is_wrong(flag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_flag(flag)


def test_config_file_in_the_data_dir(tmp_path: Path) -> None:
    assert inventory.load_file(tmp_path) == []
    entries = [
        {"kind": "openai", "url": "http://127.0.0.1:8080", "capacity": 2, "api_key": "k"},
        {"kind": "stt", "adapter": "openai", "url": "http://h:9000", "timeout_s": 30},
    ]
    (tmp_path / "backends.json").write_text(json.dumps({"backends": entries}))
    first, second = inventory.load_file(tmp_path)
    assert (first.kind, first.capacity, first.api_key) == ("openai", 2, "k")
    assert (second.adapter, second.timeout_s) == ("openai", 30)
    (tmp_path / "backends.json").write_text(
        json.dumps({"backends": [{"kind": "image", "adapter": "x"}]})
    )
    with pytest.raises(ConfigError, match=r"backends\.json"):
        inventory.load_file(tmp_path)
    (tmp_path / "backends.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"backends\.json"):
        inventory.load_file(tmp_path)


def test_installed_programs_are_discovered_unless_configured(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("mflux-generate-z-image-turbo", "mlx-qwen3-asr"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    found = inventory.discover(str(bin_dir))
    assert [(s.kind, s.adapter) for s in found] == [("image", "mflux"), ("stt", "qwen3-asr")]
    specs = inventory.assemble(
        ["stt/qwen3-asr=http://127.0.0.1:9999"], tmp_path, discover_programs=True, path=str(bin_dir)
    )
    assert [(s.kind, s.adapter, s.url) for s in specs] == [
        ("stt", "qwen3-asr", "http://127.0.0.1:9999"),
        ("image", "mflux", None),
    ]
    assert inventory.assemble([], tmp_path, discover_programs=False, path=str(bin_dir)) == []


async def test_backends_pick_the_adapter_serving_a_model(tmp_path: Path) -> None:
    specs = [
        BackendSpec(kind="openai", url="http://127.0.0.1:1"),
        BackendSpec(kind="image", adapter="openai", url="http://127.0.0.1:1", models=["sdxl"]),
        BackendSpec(kind="stt", adapter="openai", url="http://127.0.0.1:1", models=["whisper-1"]),
    ]
    backends = Backends(specs, tmp_path)
    try:
        assert backends.serves_jobs
        assert backends.image_backend("sdxl") is backends.images[0]
        assert backends.image_backend("flux-dev") is None
        assert backends.speech_backend("whisper-1") is backends.speech[0]
        reports = await backends.reports("http://127.0.0.1:11436")
        assert [(r.kind, r.url) for r in reports] == [
            ("openai", "http://127.0.0.1:1"),
            ("image", "http://127.0.0.1:11436"),
            ("stt", "http://127.0.0.1:11436"),
        ]
        assert reports[0].reachable is False, "nothing listens on port 1"
    finally:
        await backends.aclose()
    assert not Backends([specs[0]], tmp_path).serves_jobs
