"""Apply a large backfill through Bulk Lead Import: RFC 4180 CSV files under 10 MB, at most 2 jobs in
flight, status polled to Complete/Failed, failure and warning files mapped back to the input people."""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import SegmarketoError
from .backfill import Candidate, lead_key

log = logging.getLogger("segmarketo.backfill")

MAX_FILE_BYTES = 9_000_000  # Marketo's limit is 10 MB; the client refuses > 9.5 MB; keep a further margin
MAX_IN_FLIGHT = 2  # Marketo runs 2 import jobs at a time per instance and queues up to 10
POLL_FIRST_S = 2.0  # first status poll; then doubling up to POLL_MAX_S (Marketo suggests polling every 5-30 s)
POLL_MAX_S = 30.0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_files(candidates: list[Candidate], lookup_field: str, max_bytes: int = MAX_FILE_BYTES,
              ) -> Iterator[tuple[bytes, list[Candidate]]]:
    """CSV files (UTF-8, header of REST names, csv-module quoting) each under `max_bytes`, with their rows.

    Each file's header is the union of its rows' fields; a blank cell leaves that field unchanged in
    Marketo (UNCONFIRMED for real instances; the sandbox and Marketo's list import behave so), which is
    why a cleared trait (`--nulls clear`) is only cleared through the REST path.
    """
    start = 0
    while start < len(candidates):
        rows: list[Candidate] = []
        columns: list[str] = [lookup_field]
        size = 0
        index = start
        while index < len(candidates):
            candidate = candidates[index]
            new_cols = [k for k in candidate.fields if k not in columns]
            line = _encode([_cell(v) for v in candidate.fields.values()])
            # estimate: row text + one separator per column it lacks + growth of the header
            estimate = len(line) + len(columns) + len(new_cols) + sum(len(c) + 1 for c in new_cols)
            if rows and size + estimate > max_bytes * 0.95:
                break
            rows.append(candidate)
            columns.extend(new_cols)
            size += estimate
            index += 1
        data = _render(columns, rows)
        while len(data) > max_bytes and len(rows) > 1:  # the estimate was short: give rows back
            rows = rows[: len(rows) * 9 // 10]
            data = _render(columns, rows)
        start += len(rows)
        yield data, rows


def _encode(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def _render(columns: list[str], rows: list[Candidate]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: quotes fields holding , " CR LF; CRLF rows
    writer.writerow(columns)
    for candidate in rows:
        writer.writerow([_cell(candidate.fields.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


@dataclass
class ImportResult:
    """Per-file outcome: confirmed candidates, rejects (candidate, reason), warnings (candidate, reason)."""

    imported: list[Candidate] = field(default_factory=list)
    rejected: list[tuple[Candidate, str]] = field(default_factory=list)
    warnings: list[tuple[Candidate, str]] = field(default_factory=list)


def parse_report_file(text: str, lookup_field: str) -> dict[str, str]:
    """Rows of a failures/warnings file -> {normalised lookup value: reason}. The reason is the column
    Marketo appends after ours (its name is UNCONFIRMED, so it is taken by position: the last one)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or lookup_field not in header:
        return {}
    key_at = header.index(lookup_field)
    reasons: dict[str, str] = {}
    for row in reader:
        if len(row) > key_at:
            key = lead_key(lookup_field, row[key_at])
            if key is not None:
                reasons[key] = row[-1] if len(row) >= len(header) else "rejected by bulk import"
    return reasons


class BulkExecutor:
    """Uploads files one after another keeping at most MAX_IN_FLIGHT jobs running, polls them, maps results."""

    def __init__(self, client: Any, *, lookup_field: str, on_result: Callable[[ImportResult], None],
                 sleep: Callable[[float], None] = time.sleep, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.client = client
        self.lookup_field = lookup_field
        self.on_result = on_result
        self.sleep = sleep
        self.max_bytes = max_bytes
        self.jobs = 0

    def run(self, upserts: list[Candidate]) -> tuple[SegmarketoError, list[Candidate]] | None:
        """Import everything; on a stop error returns it with every candidate not confirmed."""
        files = csv_files(upserts, self.lookup_field, self.max_bytes)
        in_flight: list[tuple[int, list[Candidate]]] = []
        unconfirmed: list[Candidate] = []
        stop: SegmarketoError | None = None
        exhausted = False
        wait_s = POLL_FIRST_S
        while True:
            while not exhausted and stop is None and len(in_flight) < MAX_IN_FLIGHT:
                item = next(files, None)
                if item is None:
                    exhausted = True
                    break
                data, rows = item
                try:
                    job = self.client.bulk_import_leads(data, lookup_field=self.lookup_field)
                except SegmarketoError as exc:
                    stop, unconfirmed = exc, unconfirmed + rows
                    break
                self.jobs += 1
                in_flight.append((int(job["batchId"]), rows))
                log.info("bulk import %s queued: %d leads, %d bytes", job["batchId"], len(rows), len(data))
            if not in_flight:
                break
            self.sleep(wait_s)
            wait_s = min(wait_s * 2, POLL_MAX_S)
            still: list[tuple[int, list[Candidate]]] = []
            for batch_id, rows in in_flight:
                if stop is not None:
                    unconfirmed.extend(rows)  # queued in Marketo but unconfirmed: resent next run
                    continue
                try:
                    status = self.client.bulk_import_status(batch_id)
                    if status.get("status") not in ("Complete", "Failed"):
                        still.append((batch_id, rows))
                        continue
                    self.on_result(self._finish(batch_id, status, rows))
                    wait_s = POLL_FIRST_S  # a slot freed: the next file starts, poll it soon
                except SegmarketoError as exc:
                    stop = exc
                    unconfirmed.extend(rows)
            in_flight = still
        if stop is None:
            return None
        unconfirmed.extend(c for _, rows in in_flight for c in rows)
        for _, rows in files:
            unconfirmed.extend(rows)
        return stop, unconfirmed

    def _finish(self, batch_id: int, status: dict[str, Any], rows: list[Candidate]) -> ImportResult:
        result = ImportResult()
        if status.get("status") == "Failed":
            reason = f"bulk import {batch_id} failed: {status.get('message') or 'no message'}"
            result.rejected = [(c, reason) for c in rows]
            return result
        failures = warnings = {}
        if int(status.get("numOfRowsFailed") or 0) > 0:
            failures = parse_report_file(self.client.bulk_import_failures(batch_id), self.lookup_field)
        if int(status.get("numOfRowsWithWarning") or 0) > 0:
            warnings = parse_report_file(self.client.bulk_import_warnings(batch_id), self.lookup_field)
        for candidate in rows:
            if candidate.key in failures:
                result.rejected.append((candidate, failures[candidate.key]))
                continue
            result.imported.append(candidate)
            if candidate.key in warnings:
                result.warnings.append((candidate, warnings[candidate.key]))
        return result
