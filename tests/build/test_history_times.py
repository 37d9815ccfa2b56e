"""History times are filled the way BuildKit's exporter fills them (golden cases)."""

from __future__ import annotations

from dockyard.build.stage import fill_history_times
from dockyard.oci import HistoryEntry


def times(*created: str) -> list[str]:
    entries = [HistoryEntry(created=c, created_by=f"step {i}") for i, c in enumerate(created)]
    return [h.created for h in fill_history_times(entries)]


def test_metadata_after_a_layer_takes_that_layer_time() -> None:
    assert times("base", "", "L1", "", "L2", "") == ["base", "L1", "L1", "L1", "L2", "L2"]


def test_untimed_entries_before_the_first_timed_one_after_a_gap_take_its_time() -> None:
    # BuildKit's rule, quirk included: L1 comes before any untimed entry, so the untimed
    # entries after it take the first time that follows an untimed entry (L2)
    assert times("base", "L1", "", "", "L2", "") == ["base", "L1", "L2", "L2", "L2", "L2"]


def test_metadata_before_the_first_new_layer_takes_the_first_new_layer_time() -> None:
    # not the base image's time: BuildKit skips to the first time after a missing one
    assert times("base", "", "L1", "") == ["base", "L1", "L1", "L1"]


def test_with_no_new_layer_metadata_takes_the_last_time_there_is() -> None:
    assert times("b1", "b2", "", "") == ["b1", "b2", "b2", "b2"]


def test_nothing_to_fill_is_left_alone_and_all_missing_stays_missing() -> None:
    assert times("a", "b") == ["a", "b"]
    assert times("", "") == ["", ""]
    assert times() == []


def test_other_fields_are_kept() -> None:
    entry = HistoryEntry(created="", created_by="ENV A=1", comment="c", empty_layer=True)
    (filled,) = fill_history_times([HistoryEntry(created="t"), entry])[1:]
    assert filled == HistoryEntry(created="t", created_by="ENV A=1", comment="c", empty_layer=True)
