"""Whether backfill-leads builds its people in memory or on the engine: the input's uncompressed size, and for
JSON lines the share of it in lines the job keeps, decide."""

from __future__ import annotations

import gzip
from collections.abc import Callable

from segmarketo_cli.sources import InputFile

GRAPH_BYTES_PER_INPUT_BYTE = 3  # in-memory graph vs uncompressed input, identify-only export (docs/engine.md)
GRAPH_SHARE = 0.5  # the in-memory graph may take this share of memory_limit
_ISIZE_WRAP = 1 << 32  # gzip's ISIZE field is the size modulo 4 GiB (https://www.rfc-editor.org/rfc/rfc1952)
_MAX_GZIP_RATIO = 32  # a .gz this large may hold more than 4 GiB, where ISIZE cannot be trusted
SAMPLE_BYTES = 4 << 20  # the start of a JSON-lines file read to estimate the share of lines the job keeps
COLUMNAR_FROM = 16 << 20  # JSON lines from this many uncompressed bytes on are read by DuckDB (columnar.py)
COLUMNAR_SHARE = 0.5  # ... when at least this share of their bytes is in lines the job keeps


def uses_engine(inputs: list[InputFile], memory_limit: int, keep: Callable[[bytes], bool] | None = None) -> bool:
    """True when the in-memory identity graph of `inputs` could outgrow GRAPH_SHARE of `memory_limit`. With `keep`
    (the reader's line filter), a JSON-lines file counts only the share of its bytes in kept lines, estimated on
    its first SAMPLE_BYTES: a mixed export whose tracks and pages are skipped unparsed builds a smaller graph."""
    budget = memory_limit * GRAPH_SHARE
    total = 0.0
    for source in inputs:
        share = kept_share(source, keep) if keep is not None and source.format == "jsonl" else 1.0
        total += uncompressed_size(source) * share * GRAPH_BYTES_PER_INPUT_BYTE
        if total > budget:
            return True
    return False


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
    if size * _MAX_GZIP_RATIO >= _ISIZE_WRAP:
        return _ISIZE_WRAP
    with source.path.open("rb") as handle:
        handle.seek(-4, 2)
        isize = int.from_bytes(handle.read(4), "little")
    # A file of several gzip members only records the last one's size: never less than the compressed bytes.
    return max(isize, size)


def reads_columnar(inputs: list[InputFile], keep: Callable[[bytes], bool] | None = None) -> bool:
    """True when DuckDB reads the input (columnar.py): JSON lines only, at least COLUMNAR_FROM bytes uncompressed,
    and (with `keep`, the reader's line filter) at least COLUMNAR_SHARE of them in kept lines. Below that size the
    engine's fixed cost (about 0.45 CPU-s, docs/engine.md) outweighs what it saves; a mixed export whose tracks and
    pages the Python reader skips unparsed is cheaper read there than parsed whole by DuckDB."""
    if not inputs or any(source.format != "jsonl" for source in inputs):
        return False
    sizes = [uncompressed_size(source) for source in inputs]
    total = sum(sizes)
    if total < COLUMNAR_FROM:
        return False
    if keep is None:
        return True
    kept = sum(size * kept_share(source, keep) for size, source in zip(sizes, inputs, strict=True))
    return kept >= total * COLUMNAR_SHARE
