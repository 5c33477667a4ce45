"""Where a pull goes and whether it fits: the figures, the best fit, the refusals."""

from __future__ import annotations

from router.pull_plan import NodeRoom, need_of, plan

GB = 10**9


def room(node_id: str, memory_gb: float, disk_gb: float | None, **kw: bool) -> NodeRoom:
    disk = None if disk_gb is None else int(disk_gb * GB)
    return NodeRoom(
        node_id=node_id,
        online=kw.get("online", True),
        memory_bytes=int(memory_gb * GB),
        disk_free_bytes=disk,
        holds=kw.get("holds", False),
    )


def test_a_model_too_big_for_the_named_node_is_refused_with_both_figures() -> None:
    need = need_of("llama3.3:70b")
    result = plan(need, [room("laptop", 32, 500)], "laptop")
    assert not result.fits and result.node_id == "laptop"
    assert result.reason is not None and "laptop has 32.0 GB" in result.reason
    assert f"{need.memory_bytes / GB:.1f} GB of memory" in result.reason


def test_a_model_that_does_not_fit_the_free_disk_is_refused_unless_already_there() -> None:
    need = need_of("llama3.1:8b")
    assert need.download_bytes is not None and need.download_bytes > 4 * GB
    short = plan(need, [room("ws", 128, 2)], "ws")
    assert not short.fits and short.reason is not None and "2.0 GB free on disk" in short.reason
    update = plan(need, [room("ws", 128, 2, holds=True)], "ws")
    assert update.fits and update.already_there and update.disk_free_after_bytes == 2 * GB


def test_without_a_node_the_one_with_most_memory_to_spare_among_those_that_fit() -> None:
    rooms = [room("small", 16, 500), room("big", 128, 1), room("mid", 64, 500)]
    result = plan(need_of("qwen3:8b"), rooms, None)
    assert result.fits and result.node_id == "mid" and result.chosen_by == "best_fit"
    assert result.disk_free_after_bytes == 500 * GB - (result.download_bytes or 0)


def test_no_room_anywhere_and_no_node_online_say_so() -> None:
    nowhere = plan(need_of("llama3.3:70b"), [room("mini", 16, 500)], None)
    assert not nowhere.fits and nowhere.node_id is None
    assert nowhere.reason is not None and "no online node has the memory" in nowhere.reason
    dark = plan(need_of("qwen3:8b"), [room("mini", 16, 500, online=False)], None)
    assert dark.reason == "no node is online"
    offline = plan(need_of("qwen3:8b"), [room("mini", 16, 500, online=False)], "mini")
    assert not offline.fits and offline.reason is not None and "offline" in offline.reason


def test_an_unknown_size_is_not_a_reason_to_refuse_a_named_node() -> None:
    need = need_of("someone/custom-model:latest")
    assert not need.memory_known and need.download_bytes is None
    result = plan(need, [room("mini", 16, 100)], "mini")
    assert result.fits and result.memory_needed_bytes is None and result.download_bytes is None


def test_a_size_reported_by_a_node_beats_the_catalogue() -> None:
    assert need_of("qwen3:8b", reported_bytes=5_000_000_001).download_bytes == 5_000_000_001
