"""The replay's reader of the staged records: right bytes in any order, and a file read about once whether the
replay follows it or jumps about (a person's messages days apart, complex people staged in no order)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from segmarketo_cli.jobs.backfill_leads.replay import RecordReader

from .test_people_engine import assert_same_people, write_jsonl


def _records(path: Path, count: int) -> list[tuple[int, bytes]]:
    """`count` records of 150-250 bytes written to `path`; (offset, bytes) of each."""
    rng = random.Random(7)
    records, at = [], 0
    with path.open("wb") as handle:
        for i in range(count):
            body = f"{i:08d}".encode() * rng.randint(19, 31)
            handle.write(body)
            records.append((at, body))
            at += len(body)
    return records


def _read_all(path: Path, order: list[tuple[int, bytes]]) -> int:
    """Reads every record in `order`, checks its bytes, returns the bytes the reader read from the file."""
    with path.open("rb", buffering=0) as handle:
        reader = RecordReader(handle.fileno())
        for at, body in order:
            assert reader.read(at, len(body)) == body, at
    return reader.bytes_read


def test_records_read_in_file_order_cost_one_pass(tmp_path):
    path = tmp_path / "records.bin"
    records = _records(path, 20_000)  # about 4 MB: several read-ahead windows
    assert _read_all(path, records) == path.stat().st_size


def test_two_runs_interleaved_read_the_file_about_once(tmp_path):
    """Each person's first identify in the first half of the file, the second in the other half."""
    path = tmp_path / "records.bin"
    records = _records(path, 20_000)
    half = len(records) // 2
    interleaved = [record for pair in zip(records[:half], records[half:], strict=True) for record in pair]
    assert _read_all(path, interleaved) <= path.stat().st_size + 2 * RecordReader.READ_AHEAD


def test_records_in_no_order_read_little_more_than_themselves(tmp_path):
    path = tmp_path / "records.bin"
    records = _records(path, 20_000)
    shuffled = random.Random(3).sample(records, len(records))
    assert _read_all(path, shuffled) <= 3 * path.stat().st_size  # a refill of the whole window each was ~5,000×


def test_a_record_larger_than_the_window_is_read_whole(tmp_path):
    path = tmp_path / "records.bin"
    big = os.urandom(RecordReader.READ_AHEAD + 1000)
    path.write_bytes(b"x" * 10 + big + b"y" * 10)
    order = [(0, b"x" * 10), (10, big), (10 + len(big), b"y" * 10), (10, big)]
    # the file once, then the big record again: its window moved on to the last record
    assert _read_all(path, order) == path.stat().st_size + len(big)


def test_more_runs_than_windows_read_each_record_once(tmp_path):
    """Twelve runs interleaved (a person's identifies on twelve days): past WINDOWS runs, reads are exact."""
    path = tmp_path / "records.bin"
    records = _records(path, 12_000)
    runs = [records[k::12] for k in range(12)]
    interleaved = [record for group in zip(*runs, strict=True) for record in group]
    assert _read_all(path, interleaved) <= path.stat().st_size + RecordReader.WINDOWS * RecordReader.READ_AHEAD


@pytest.mark.parametrize("seed", range(20))
def test_any_mix_of_runs_and_jumps_reads_the_right_bytes(tmp_path, monkeypatch, seed):
    """Small windows, so every case comes up: runs, jumps, records longer than a window, reads up to the end."""
    rng = random.Random(seed)
    monkeypatch.setattr(RecordReader, "READ_AHEAD", rng.randint(1, 300))
    monkeypatch.setattr(RecordReader, "WINDOWS", rng.randint(1, 4))
    data = os.urandom(rng.randint(1, 3000))
    path = tmp_path / "records.bin"
    path.write_bytes(data)
    order, at = [], 0
    for _ in range(400):
        if rng.random() < 0.3 or at >= len(data):
            at = rng.randrange(len(data))
        size = min(rng.randint(0, 2 * RecordReader.READ_AHEAD), len(data) - at)
        order.append((at, data[at:at + size]))
        at += size
    assert _read_all(path, order) <= len(order) * (max(len(b) for _, b in order) + RecordReader.READ_AHEAD)


def test_a_file_cut_short_is_an_error_not_a_short_record(tmp_path):
    path = tmp_path / "records.bin"
    path.write_bytes(b"0123456789")
    with path.open("rb", buffering=0) as handle:
        reader = RecordReader(handle.fileno())
        with pytest.raises(OSError, match="inside the record"):
            reader.read(5, 10)


def test_people_whose_messages_lie_far_apart_are_the_same_on_the_engine(tmp_path):
    """Every person identified once in the first file and again, with other traits, in the second: the replay
    reads across both files' staged records for each person."""
    people = 6_000
    first = [{"type": "identify", "userId": f"u{i}", "anonymousId": f"a{i}", "timestamp": "2026-03-01T00:00:00Z",
              "traits": {"email": f"p{i}@example.com", "plan": "free"}} for i in range(people)]
    second = [{"type": "identify", "userId": f"u{i}", "timestamp": "2026-03-02T00:00:00Z",
               "traits": {"plan": "pro", "seats": i % 9}} for i in range(people)]
    files = [write_jsonl(tmp_path / "day-1.jsonl.gz", first), write_jsonl(tmp_path / "day-2.jsonl.gz", second)]
    assert assert_same_people(files, tmp_path) == people
