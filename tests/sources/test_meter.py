"""ReadMeter: the bytes read_all consumes of the inputs' size on disk (gzip: compressed bytes), file by file."""

from __future__ import annotations

import gzip
import json
import random

from segmarketo_cli.sources import inspect, read_all
from segmarketo_cli.sources.meter import METER, ReadMeter


def write_inputs(tmp_path):
    rng = random.Random(7)
    big = tmp_path / "a.jsonl.gz"  # several 1 MiB blocks of poorly compressible lines
    with gzip.open(big, "wt") as out:
        for i in range(40_000):
            out.write(json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"note": rng.randbytes(48).hex()}})
                      + "\n")
    small = tmp_path / "b.csv"
    small.write_text("email,userId\na@example.com,u1\nb@example.com,u2\n")
    return [inspect(big), inspect(small)], big.stat().st_size + small.stat().st_size


def test_position_grows_inside_a_file_and_reaches_the_total(tmp_path):
    inputs, total = write_inputs(tmp_path)
    assert METER.position() is None
    done: list[int] = []
    for _item in read_all(inputs):
        position = METER.position()
        assert position is not None
        assert position.total == total
        done.append(position.done)
    assert done == sorted(done)
    assert 0 < done[len(done) // 2] < inputs[0].path.stat().st_size  # mid-file, not only at file ends
    assert done[-1] == inputs[0].path.stat().st_size  # the CSV file, read by the csv module, counts when it ends
    assert METER.position() is None  # the read is over


def test_blocks_read_outside_a_measured_read_are_not_counted(tmp_path):
    meter = ReadMeter()
    meter.advance(1_000)
    assert meter.position() is None
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"0123456789")
    with meter.reading([path, tmp_path / "missing.jsonl"]):
        with meter.file(path):
            meter.advance(25)  # never past the file's own size
            assert meter.position().done == 10
        assert meter.position().fraction == 1.0
