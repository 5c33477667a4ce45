"""Settings precedence (flag > environment > default) and persisted runtime toggles."""

from __future__ import annotations

from pathlib import Path

from router.config import RuntimeToggles, load_settings, write_persisted_toggles


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path}, environ={})
    assert settings.port == 11435 and settings.degraded_after_s == 15
    assert settings.db_path == tmp_path / "latency.db"
    assert settings.log_path == tmp_path / "logs" / "herd.jsonl"
    assert settings.toggles.auto_pull and settings.toggles.vram_fallback


def test_environment_beats_defaults_and_flags_beat_environment(tmp_path: Path) -> None:
    env = {
        "HERD_PORT": "9000",
        "HERD_OFFLINE_AFTER_S": "7",
        "HERD_AUTO_PULL": "false",
        "HERD_MDNS_INTERFACES": "127.0.0.1, 10.0.0.2",
    }
    settings = load_settings({"data_dir": tmp_path, "port": 9100}, environ=env)
    assert settings.port == 9100
    assert settings.offline_after_s == 7
    assert settings.toggles.auto_pull is False
    assert settings.mdns_interfaces == ["127.0.0.1", "10.0.0.2"]


def test_persisted_toggles_survive_a_restart(tmp_path: Path) -> None:
    toggles = RuntimeToggles(vram_fallback=False, reaper_timeout_s=42.0)
    write_persisted_toggles(tmp_path / "settings.json", toggles)
    settings = load_settings({"data_dir": tmp_path}, environ={"HERD_VRAM_FALLBACK": "true"})
    assert settings.toggles.vram_fallback is False
    assert settings.toggles.reaper_timeout_s == 42.0


def test_a_corrupt_settings_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(
        '{"auto_pull": "yes please", "bogus": 1, "max_retries": 1'
    )
    settings = load_settings({"data_dir": tmp_path}, environ={})
    assert settings.toggles.auto_pull is True and settings.toggles.max_retries == 2
    (tmp_path / "settings.json").write_text('{"auto_pull": "maybe", "bogus": 1, "max_retries": 1}')
    settings = load_settings({"data_dir": tmp_path}, environ={})
    assert settings.toggles.auto_pull is True and settings.toggles.max_retries == 1
