"""jobs.batches: chunking and reading a skipped record's first reason."""

from __future__ import annotations

import pytest

from segmarketo_cli.jobs.batches import SkipReason, chunks, first_reason, positional


def test_chunks_cut_at_300_by_default():
    sizes = [len(c) for c in chunks(list(range(601)))]
    assert sizes == [300, 300, 1]


def test_chunks_of_nothing_is_no_call():
    assert list(chunks([])) == []


def test_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError):
        list(chunks([1], size=0))


def test_first_reason_reads_code_and_message():
    reason = first_reason({"status": "skipped", "reasons": [{"code": "1005", "message": "Lead already exists"}]})
    assert reason == SkipReason("1005", "Lead already exists")
    assert reason.describe() == "Marketo 1005: Lead already exists"


def test_partition_codes_carry_advice():
    text = first_reason({"status": "skipped", "reasons": [{"code": 1009, "message": "Partition required"}]}).describe()
    assert text.startswith("Marketo 1009: Partition required (")
    assert "partition" in text.split("(", 1)[1]


def test_missing_row_and_missing_reasons_say_what_came_back():
    assert first_reason(None).describe() == "Marketo returned no result for this record"
    assert first_reason({"status": "skipped"}).describe() == "Marketo answered skipped"
    assert first_reason({"status": "skipped", "reasons": ["junk"]}).code is None


def test_positional_pairs_a_short_reply_with_none():
    pairs = list(positional([{"id": 1}], ["a", "b"]))
    assert pairs == [("a", {"id": 1}), ("b", None)]
