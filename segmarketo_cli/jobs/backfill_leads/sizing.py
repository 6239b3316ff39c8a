"""Whether backfill-leads builds its people in memory or on the engine: the input's uncompressed size, and for
JSON lines the share of it in lines the job keeps, decide."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from segmarketo_cli.sources import InputFile

GRAPH_BYTES_PER_INPUT_BYTE = 3  # in-memory graph vs uncompressed input, identify-only export (docs/engine.md)
GRAPH_SHARE = 0.5  # the in-memory graph may take this share of memory_limit
ISIZE_WRAP = 1 << 32  # gzip's ISIZE field is the size modulo 4 GiB (https://www.rfc-editor.org/rfc/rfc1952)
_MAX_GZIP_RATIO = 32  # a .gz this large may hold more than 4 GiB, where ISIZE cannot be trusted
SAMPLE_BYTES = 4 << 20  # the start of a JSON-lines file read to estimate the share of lines the job keeps
COLUMNAR_FROM = 16 << 20  # JSON lines from this many uncompressed bytes on are read by DuckDB (columnar.py)
COLUMNAR_SHARE = 0.05  # ... when at least this share of their bytes is in lines the job keeps


@dataclass(frozen=True)
class Measured:
    """One input file as the sizing decisions see it: its format, the bytes it decompresses to and the share of
    them in lines the job keeps (1.0 unless a line filter was given and the file is JSON lines)."""

    format: str
    size: int
    kept: float


def measure(inputs: list[InputFile], keep: Callable[[bytes], bool] | None = None) -> list[Measured]:
    """Each input's `Measured`, once: both decisions below read these, so no file's sample is read twice. With
    `keep` (the reader's line filter) a JSON-lines file's kept share is estimated on its first SAMPLE_BYTES."""
    return [Measured(source.format, uncompressed_size(source),
                     kept_share(source, keep) if keep is not None and source.format == "jsonl" else 1.0)
            for source in inputs]


def uses_engine(measured: list[Measured], memory_limit: int) -> bool:
    """True when the in-memory identity graph of the measured inputs could outgrow GRAPH_SHARE of `memory_limit`;
    a JSON-lines file counts only its kept share: a mixed export whose tracks and pages are skipped unparsed
    builds a smaller graph."""
    graph = sum(m.size * m.kept for m in measured) * GRAPH_BYTES_PER_INPUT_BYTE
    return graph > memory_limit * GRAPH_SHARE


def kept_share(source: InputFile, keep: Callable[[bytes], bool]) -> float:
    """The share of bytes in lines `keep` accepts, over the whole lines of the first SAMPLE_BYTES (1.0 when the
    sample cannot be read: the reader reports the file itself)."""
    try:
        opener = gzip.open if source.gzipped else open
        with opener(source.path, "rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except (OSError, EOFError):
        return 1.0
    lines = sample.split(b"\n")[:-1]  # whole lines only: the last piece is cut midway or empty
    total = sum(len(line) + 1 for line in lines)
    kept = sum(len(line) + 1 for line in lines if keep(line))
    return kept / total if total else 1.0


def uncompressed_size(source: InputFile) -> int:
    """The bytes `source` decompresses to: gzip's ISIZE trailer, Parquet's row-group sizes, else the file size."""
    size = source.path.stat().st_size
    if source.format == "parquet":
        import pyarrow.parquet as pq  # heavy: imported only for a Parquet input

        try:
            meta = pq.read_metadata(source.path)
        except Exception:  # pyarrow raises several types; the reader reports an unreadable file itself
            return size
        return max(size, sum(int(meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)))
    if not source.gzipped:
        return size
    if size * _MAX_GZIP_RATIO >= ISIZE_WRAP:
        return ISIZE_WRAP
    isize = gzip_isize(source.path)
    # A file of several gzip members only records the last one's size: never less than the compressed bytes.
    return max(isize, size)


def gzip_isize(path: Path) -> int:
    """A gzip file's ISIZE trailer: the uncompressed size of its last member, modulo ISIZE_WRAP (RFC 1952)."""
    with path.open("rb") as handle:
        handle.seek(-4, 2)
        return int.from_bytes(handle.read(4), "little")


def reads_columnar(measured: list[Measured]) -> bool:
    """True when DuckDB reads the input (columnar.py): JSON lines only, at least COLUMNAR_FROM bytes uncompressed,
    and at least COLUMNAR_SHARE of them in kept lines (measured with the reader's line filter). Below that size the
    engine's fixed cost (about 0.45 CPU-s, docs/engine.md) outweighs what it saves. DuckDB reads every line once
    and skips the unkept ones cheaply, and a columnar read is planned on the engine, where its simple people are
    mapped in SQL: measured on 1M-message mixed exports (dry runs, docs/engine.md), CPU was 6-12 % lower than the
    Python reader's at 9 % of the bytes in kept lines (1 message in 20 an identify) and about half at 37 % (1 in
    4), for some 70-250 MB more memory."""
    if not measured or any(m.format != "jsonl" for m in measured):
        return False
    total = sum(m.size for m in measured)
    return total >= COLUMNAR_FROM and sum(m.size * m.kept for m in measured) >= total * COLUMNAR_SHARE
