"""Version strings made comparable, one way for the whole router."""

from __future__ import annotations

from herd_contract.versions import parse_version, version_key
from router.native import RESPONSES, speaks


def test_versions_parse_with_missing_parts_and_suffixes() -> None:
    assert parse_version("0.14.2") == (0, 14, 2)
    assert parse_version("v0.14") == (0, 14, 0)
    assert parse_version("0.13.3-rc1") == (0, 13, 3)
    assert parse_version("unknown") is None


def test_versions_sort_by_number_with_unparsable_ones_first() -> None:
    ordered = sorted(["0.12.10", "dev", "0.12.9", "1.0.0"], key=version_key)
    assert ordered == ["dev", "0.12.9", "0.12.10", "1.0.0"]


def test_native_endpoints_use_the_same_comparison() -> None:
    assert speaks("0.13.3", RESPONSES) and speaks("0.14", RESPONSES)
    assert not speaks("0.13.2", RESPONSES) and not speaks("", RESPONSES)
