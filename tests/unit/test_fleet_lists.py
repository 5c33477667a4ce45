"""The fleet's merged model lists name each model once, as Ollama clients expect."""

from __future__ import annotations

from router.fleet_view import merged_ps


def _entry(name: str, expires_at: str, size_vram: int) -> dict[str, object]:
    return {
        "name": name,
        "model": name,
        "digest": "abc",
        "expires_at": expires_at,
        "size_vram": size_vram,
        "context_length": 4096,
    }


def test_ps_lists_a_model_once_with_every_node_holding_it() -> None:
    merged = merged_ps(
        [
            ("a", [_entry("llama3.2:3b", "2026-01-01T10:00:00Z", 1), _entry("mistral:7b", "x", 5)]),
            ("b", [_entry("llama3.2:3b", "2026-01-01T11:00:00Z", 2)]),
        ]
    )["models"]
    assert [m["name"] for m in merged] == ["llama3.2:3b", "mistral:7b"]
    first = merged[0]
    assert first["nodes"] == ["a", "b"]
    # The entry shown is the one from the node that keeps the model longest.
    assert first["node_id"] == "b" and first["size_vram"] == 2 and first["digest"] == "abc"
    assert [d["node_id"] for d in first["node_details"]] == ["a", "b"]
    assert first["node_details"][0]["size_vram"] == 1
    assert merged[1]["nodes"] == ["a"]
