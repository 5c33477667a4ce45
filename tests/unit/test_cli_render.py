"""The terminal client's pure parts: sizes and ages, tables that fit, and pull progress."""

from __future__ import annotations

from herd_cli.progress import PullProgress
from herd_cli.render import ago, human_bytes, parse_time, table, until
from herd_cli.views import health_lines, ps_rows, status_lines

DIGEST = "sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa"


def test_sizes_are_decimal_like_ollama() -> None:
    assert human_bytes(4_920_753_328) == "4.9 GB"
    assert human_bytes(274_302_450) == "274 MB"
    assert human_bytes(None) == "-"


def test_ages_and_deadlines_read_like_ollama() -> None:
    assert ago(1000.0, 1000.0 + 2 * 86_400 + 5) == "2 days ago"
    assert ago(1000.0, 1000.0 + 130, short=True) == "2m ago"
    assert until(1000.0 + 4 * 60 + 30, 1000.0) == "4 minutes from now"
    assert parse_time("2026-11-29T20:29:45.040591123Z") == parse_time("2026-11-29T20:29:45.040591Z")


def test_a_table_wider_than_80_columns_gives_way_in_its_widest_column() -> None:
    rows = [["a" * 70, "node-1", "12 GB"], ["short", "node-2", "1 GB"]]
    lines = table(["NAME", "NODE", "SIZE"], rows)
    assert all(len(line) <= 80 for line in lines)
    assert lines[2].split()[1:] == ["node-2", "1", "GB"]
    assert lines[1].split()[0].endswith("~")


def test_pull_progress_reports_each_quarter_once_in_plain_output() -> None:
    now = [0.0]
    progress = PullProgress(clock=lambda: now[0])
    assert progress.feed({"status": "pulling manifest"}) == ["pulling manifest"]
    plain: list[str] = []
    for step in range(11):
        now[0] = step
        plain += progress.feed(
            {
                "status": f"pulling {DIGEST[7:19]}",
                "digest": DIGEST,
                "total": 1000,
                "completed": step * 100,
            }
        )
    assert [line.split()[2] for line in plain] == ["0%", "30%", "50%", "80%", "100%"]
    assert "100 B/s" in plain[1]  # 300 bytes in 3 s
    assert progress.feed({"status": "success"}) == ["success"]
    assert progress.percent == 100.0
    screen = progress.screen()
    assert screen[0] == "pulling manifest" and "100%" in screen[1] and screen[-1] == "success"


def test_status_of_an_empty_fleet_says_what_to_do() -> None:
    lines = status_lines({"fleet": {"nodes_total": 0}, "nodes": []}, None)
    assert any("herd-node" in line for line in lines)


def test_ps_with_fields_missing_still_renders() -> None:
    status = {"nodes": [{"node_id": "n1", "ollama": {"models_loaded": [{"name": "m:1b"}]}}]}
    headers, rows = ps_rows(status, now=0.0)
    assert rows == [["m:1b", "n1", "", "-", "-", "-"]]
    assert headers[:2] == ["NAME", "NODE"]


def test_health_shows_passing_and_failing_checks_worst_first() -> None:
    report = {
        "score": 70,
        "status": "warning",
        "checks": [
            {"severity": "info", "title": "Inference needs no key"},
            {"severity": "critical", "title": "Disk almost full", "fix": "Delete a model."},
        ],
    }
    lines = health_lines(report)
    titles = [line for line in lines if "Disk" in line or "Inference" in line]
    assert "Disk almost full" in titles[0]
    assert any(line.strip() == "fix: Delete a model." for line in lines)


def test_status_lists_running_pulls() -> None:
    status = {
        "fleet": {},
        "nodes": [],
        "pulls": [
            {"id": "j1", "model": "qwen3:8b", "node_id": "n1", "state": "running", "percent": 42},
            {"id": "j0", "model": "old:1b", "node_id": "n1", "state": "done", "percent": 100},
        ],
    }
    lines = status_lines(status, None)
    assert "  qwen3:8b onto n1: 42% (job j1)" in lines
    assert not any("old:1b" in line for line in lines)
