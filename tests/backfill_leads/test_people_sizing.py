"""Which way backfill-leads builds its people: the uncompressed input size against the memory limit."""

from __future__ import annotations

import gzip
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmarketo_cli.jobs.backfill_leads.messages import might_matter
from segmarketo_cli.jobs.backfill_leads.sizing import (
    COLUMNAR_FROM,
    GRAPH_BYTES_PER_INPUT_BYTE,
    kept_share,
    measure,
    reads_columnar,
    uncompressed_size,
    uses_engine,
)
from segmarketo_cli.sources import preflight

LINE = b'{"type":"identify","userId":"u1","traits":{"email":"a@example.com","plan":"pro"}}\n'


def test_a_gzip_counts_its_uncompressed_size(tmp_path):
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(LINE * 10_000))
    (source,) = preflight([str(path)])
    assert uncompressed_size(source) == len(LINE) * 10_000
    assert source.path.stat().st_size < len(LINE) * 100


def test_plain_and_parquet_files_count_their_bytes_as_read(tmp_path):
    plain = tmp_path / "export.jsonl"
    plain.write_bytes(LINE * 100)
    table = pa.table({"user_id": [f"u{i}" for i in range(5000)], "email": [f"p{i}@example.com" for i in range(5000)]})
    pq.write_table(table, tmp_path / "extract.parquet")
    plain_source, parquet_source = preflight([str(plain), str(tmp_path / "extract.parquet")])
    assert uncompressed_size(plain_source) == len(LINE) * 100
    assert uncompressed_size(parquet_source) >= os.path.getsize(tmp_path / "extract.parquet")


def test_the_engine_is_used_once_the_graph_could_take_half_the_limit(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_bytes(LINE * 1000)
    sources = preflight([str(path)])
    graph = len(LINE) * 1000 * GRAPH_BYTES_PER_INPUT_BYTE
    assert uses_engine(measure(sources), memory_limit=2 * graph - 2) is True
    assert uses_engine(measure(sources), memory_limit=2 * graph) is False


def test_a_mixed_export_counts_only_the_lines_the_job_keeps(tmp_path):
    track = b'{"type":"track","event":"Page Viewed","userId":"u1","properties":{"url":"https://example.com/"}}\n'
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress((LINE + track * 3) * 1000))
    sources = preflight([str(path)])
    share = kept_share(sources[0], might_matter)
    assert share == pytest.approx(len(LINE) / (len(LINE) + 3 * len(track)))
    whole_graph = (len(LINE) + 3 * len(track)) * 1000 * GRAPH_BYTES_PER_INPUT_BYTE
    assert uses_engine(measure(sources), memory_limit=whole_graph) is True  # every byte counted: past half the limit
    assert uses_engine(measure(sources, might_matter), memory_limit=whole_graph) is False


def test_an_identify_only_export_keeps_every_line(tmp_path):
    path = tmp_path / "identifies.jsonl"
    path.write_bytes(LINE * 1000)
    (source,) = preflight([str(path)])
    assert kept_share(source, might_matter) == 1.0


def test_duckdb_reads_json_lines_of_identifies_from_16mb_on(tmp_path):
    lines = COLUMNAR_FROM // len(LINE) + 1
    big, small = tmp_path / "big.jsonl.gz", tmp_path / "small.jsonl"
    big.write_bytes(gzip.compress(LINE * lines))
    small.write_bytes(LINE * 10)
    assert reads_columnar(measure(preflight([str(big)]), might_matter)) is True
    assert reads_columnar(measure(preflight([str(small)]), might_matter)) is False
    csv = tmp_path / "extract.csv"
    csv.write_text("user_id,email\nu1,a@example.com\n")
    assert reads_columnar(measure(preflight([str(big), str(csv)]), might_matter)) is False  # JSON lines only


@pytest.mark.parametrize(("tracks", "columnar"), [(30, False), (9, True), (2, True)])
def test_a_mixed_export_is_read_by_duckdb_from_a_twentieth_of_its_bytes_in_kept_lines(tmp_path, tracks, columnar):
    track = b'{"type":"track","event":"Page Viewed","userId":"u1","properties":{"url":"https://example.com/"}}\n'
    path = tmp_path / "export.jsonl.gz"
    block = LINE + track * tracks
    path.write_bytes(gzip.compress(block * (COLUMNAR_FROM // len(block) + 1)))
    sources = preflight([str(path)])
    assert reads_columnar(measure(sources)) is True  # by size alone
    # 3 % of the bytes in kept lines: the Python reader skips the tracks unparsed; 8 % and 29 %: DuckDB's one scan
    # and the mapping in SQL are cheaper
    assert reads_columnar(measure(sources, might_matter)) is columnar
