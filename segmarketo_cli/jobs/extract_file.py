"""A Bulk Extract file in the engine's spill folder: downloaded and checked, read as CSV rows, removed once read."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient


@contextmanager
def downloaded_extract(client: MarketoClient, kind: str, export_id: str, status: Mapping[str, Any],
                       folder: Path) -> Iterator[Path]:
    """The export's file, streamed to a private file in `folder` (the engine's spill folder, docs/engine.md) and
    checked against its Completed `status` row; removed when the block ends, read or not."""
    path = folder / f"extract-{kind}-{re.sub(r'[^A-Za-z0-9_-]', '_', export_id)}.csv"
    try:
        client.bulk_extract_download(kind, export_id, status, path)
        yield path
    finally:
        path.unlink(missing_ok=True)


def csv_rows(path: Path, *, encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each CSV record of an extract file, read as it goes (line 1 is the header)."""
    with path.open(encoding=encoding, newline="") as text:
        reader = csv.DictReader(text)
        for row in reader:
            yield reader.line_num, row
