"""Apply leads through Bulk Lead Import: RFC 4180 CSV files under 10 MB (split again on 413), at most 2 jobs in
flight, status polled to Complete/Failed, failure and warning files mapped back and reconciled with the counts."""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.bulk_import.reports import Attribution, attribute_report
from segmarketo_cli.jobs.interrupts import held
from segmarketo_cli.marketo.exceptions import MarketoPayloadTooLarge
from segmarketo_cli.waits import Wait, waiting

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

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


class Pushback:
    """A stream of candidates that takes back the ones a file could not hold, to hand them out first."""

    def __init__(self, items: Iterable[Candidate]) -> None:
        self._items = iter(items)
        self._back: deque[Candidate] = deque()

    def next(self) -> Candidate | None:
        return self._back.popleft() if self._back else next(self._items, None)

    def give_back(self, rows: list[Candidate]) -> None:
        self._back.extendleft(reversed(rows))

    def drain(self) -> int:
        """Count (and drop) every candidate not yet handed out."""
        left = len(self._back) + sum(1 for _ in self._items)
        self._back.clear()
        return left


def csv_files(candidates: Iterable[Candidate] | Pushback, lookup_field: str, max_bytes: int = MAX_FILE_BYTES,
              row_field: str | None = None) -> Iterator[tuple[bytes, list[Candidate]]]:
    """CSV files (UTF-8, header of REST names, csv-module quoting) each under `max_bytes`, with their rows, drawn
    from the stream `candidates` one file at a time.

    Each file's header is the union of its rows' fields; a blank cell leaves that field unchanged in
    Marketo (UNCONFIRMED for real instances; the sandbox and Marketo's list import behave so), which is
    why a cleared trait (`--nulls clear`) is only cleared through the REST path. With `row_field` the first
    column holds each row's number in its file (1, 2, ...), so failure files can be mapped back by it.
    A single row too large for `max_bytes` still comes out as a file of its own; the client refuses it.
    """
    source = candidates if isinstance(candidates, Pushback) else Pushback(candidates)
    first = [row_field, lookup_field] if row_field and row_field != lookup_field else [lookup_field]
    while True:
        rows: list[Candidate] = []
        columns: list[str] = list(first)
        size = 0
        while (candidate := source.next()) is not None:
            new_cols = [k for k in candidate.fields if k not in columns]
            line = _encode([_cell(v) for v in candidate.fields.values()])
            # estimate: row text + one separator per column it lacks + growth of the header + the row number
            estimate = len(line) + len(columns) + len(new_cols) + sum(len(c) + 1 for c in new_cols) + 8
            if rows and size + estimate > max_bytes * 0.95:
                source.give_back([candidate])
                break
            rows.append(candidate)
            columns.extend(new_cols)
            size += estimate
        if not rows:
            return
        data = _render(columns, rows, row_field)
        while len(data) > max_bytes and len(rows) > 1:  # the estimate was short: give rows back
            keep = len(rows) * 9 // 10
            source.give_back(rows[keep:])
            rows = rows[:keep]
            data = _render(columns, rows, row_field)
        yield data, rows


def _encode(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def _render(columns: list[str], rows: list[Candidate], row_field: str | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: quotes fields holding , " CR LF; CRLF rows
    writer.writerow(columns)
    for number, candidate in enumerate(rows, start=1):
        writer.writerow([str(number) if c == row_field else _cell(candidate.fields.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


@dataclass
class ImportResult:
    """Per-file outcome: confirmed candidates, rejects (candidate, reason), warnings (candidate, reason), and
    `unconfirmed` candidates whose outcome the job's files could not establish (`problem` says why)."""

    imported: list[Candidate] = field(default_factory=list)
    rejected: list[tuple[Candidate, str]] = field(default_factory=list)
    warnings: list[tuple[Candidate, str]] = field(default_factory=list)
    unconfirmed: list[Candidate] = field(default_factory=list)
    problem: str | None = None


class BulkExecutor:
    """Uploads files one after another keeping at most MAX_IN_FLIGHT jobs running, polls them, maps results.

    A file Marketo refuses as too large (HTTP 413, or over the client's limit before sending) is split in
    two and both halves are sent; a single row too large on its own is rejected with the reason.
    """

    def __init__(self, client: MarketoClient, *, lookup_field: str, on_result: Callable[[ImportResult], None],
                 sleep: Callable[[float], None] = time.sleep, max_bytes: int = MAX_FILE_BYTES,
                 row_field: str | None = None, list_id: int | None = None,
                 poll_s: tuple[float, float] | None = None) -> None:
        self.client = client
        self.lookup_field = lookup_field
        self.on_result = on_result
        self.sleep = sleep
        self.max_bytes = max_bytes
        self.row_field = row_field
        self.list_id = list_id
        self.poll_s = poll_s
        self.jobs = 0
        self._split: list[tuple[bytes, list[Candidate]]] = []  # halves of a refused file, the last one first

    def run(self, upserts: Iterable[Candidate]) -> tuple[SegmarketoError, int] | None:
        """Import everything, drawing the files from the stream `upserts`; on a stop error returns it with how many
        candidates were not confirmed (those never sent are counted, not held)."""
        source = Pushback(upserts)
        self._split = []
        files = self._files(source)
        in_flight: list[tuple[int, list[Candidate]]] = []
        waits: dict[int, Wait] = {}  # per job in flight: its last status and when it was queued, for the wait line
        unconfirmed = 0
        stop: SegmarketoError | None = None
        exhausted = False
        first_s, max_s = self.poll_s or (POLL_FIRST_S, POLL_MAX_S)
        wait_s = first_s
        while True:
            while not exhausted and stop is None and len(in_flight) < MAX_IN_FLIGHT:
                item = next(files, None)
                if item is None:
                    exhausted = True
                    break
                data, rows = item
                try:
                    job = self._upload(data, rows)
                except SegmarketoError as exc:
                    stop, unconfirmed = exc, unconfirmed + len(rows)
                    break
                if job is None:
                    continue
                self.jobs += 1
                in_flight.append((int(job["batchId"]), rows))
                waits[int(job["batchId"])] = Wait("bulk import queued", time.monotonic())
                log.info("bulk import %s queued: %d leads, %d bytes", job["batchId"], len(rows), len(data))
            if not in_flight:
                break
            if stop is None:  # stopped: the jobs still out are counted below, without waiting for them
                oldest = waits[in_flight[0][0]]
                with waiting(oldest.label, since=oldest.since):
                    self.sleep(wait_s)
            wait_s = min(wait_s * 2, max_s)
            still: list[tuple[int, list[Candidate]]] = []
            for batch_id, rows in in_flight:
                if stop is not None:
                    unconfirmed += len(rows)  # queued in Marketo but unconfirmed: resent next run
                    continue
                try:
                    status = self.client.bulk_import_status(batch_id)
                    if status.get("status") not in ("Complete", "Failed"):
                        still.append((batch_id, rows))
                        label = f"bulk import {status.get('status', '')}".lower()
                        waits[batch_id] = replace(waits[batch_id], label=label)
                        continue
                    with held():  # Ctrl-C or SIGTERM: a finished job's outcome is recorded before it is raised
                        self.on_result(self._finish(batch_id, status, rows))
                    wait_s = first_s  # a slot freed: the next file starts, poll it soon
                except SegmarketoError as exc:
                    stop = stop or exc
                    unconfirmed += len(rows)
            in_flight = still
        if stop is None:
            return None
        unconfirmed += sum(len(rows) for _, rows in in_flight)
        unconfirmed += sum(len(rows) for _, rows in self._split) + source.drain()
        return stop, unconfirmed

    def _files(self, source: Pushback) -> Iterator[tuple[bytes, list[Candidate]]]:
        """The files to upload; halves of a refused file (pushed by `_upload`) come before the rest."""
        for item in csv_files(source, self.lookup_field, self.max_bytes, self.row_field):
            yield item
            while self._split:
                yield self._split.pop()

    def _upload(self, data: bytes, rows: list[Candidate]) -> dict[str, Any] | None:
        """Queue one file; None when Marketo refused it as too large (its halves are queued, or its one row
        rejected)."""
        try:
            return self.client.bulk_import_leads(data, lookup_field=self.lookup_field, list_id=self.list_id)
        except MarketoPayloadTooLarge as exc:
            if len(rows) == 1:
                reason = f"{exc.marketo_message} (one lead's data is over the bulk import file limit)"
                self.on_result(ImportResult(rejected=[(rows[0], reason)]))
                return None
            log.info("bulk import file of %d bytes refused as too large: splitting %d rows in two", len(data),
                     len(rows))
            half = len(rows) // 2
            for part in (rows[half:], rows[:half]):  # popped from the end: the first half goes first
                self._split.extend(reversed(list(csv_files(part, self.lookup_field, len(data), self.row_field))))
            return None

    def _finish(self, batch_id: int, status: dict[str, Any], rows: list[Candidate]) -> ImportResult:
        result = ImportResult()
        if status.get("status") == "Failed":
            reason = f"bulk import {batch_id} failed: {status.get('message') or 'no message'}"
            result.rejected = [(c, reason) for c in rows]
            return result
        failed, warned = int(status.get("numOfRowsFailed") or 0), int(status.get("numOfRowsWithWarning") or 0)
        processed = status.get("numOfLeadsProcessed")
        keys = [c.key for c in rows]
        failures, warnings = Attribution(), Attribution()
        problem = None
        if processed is not None and int(processed) + failed != len(rows):
            problem = f"Marketo counted {processed} imported and {failed} failed of {len(rows)} rows sent"
        if problem is None and failed > 0:
            failures = attribute_report(self.client.bulk_import_failures(batch_id), expected=failed, keys=keys,
                                        lookup_field=self.lookup_field, row_field=self.row_field)
            problem = failures.problem and f"failures file: {failures.problem}"
        if problem is None and warned > 0:
            warnings = attribute_report(self.client.bulk_import_warnings(batch_id), expected=warned, keys=keys,
                                        lookup_field=self.lookup_field, row_field=self.row_field)
            problem = warnings.problem and f"warnings file: {warnings.problem}"
        if problem is not None:
            result.problem = f"bulk import {batch_id} not confirmed: {problem}"
            result.unconfirmed = list(rows)
            log.warning("%s; its %d leads are not counted as imported", result.problem, len(rows))
            return result
        for index, candidate in enumerate(rows):
            if index in failures.reasons:
                result.rejected.append((candidate, failures.reasons[index]))
                continue
            result.imported.append(candidate)
            if index in warnings.reasons:
                result.warnings.append((candidate, warnings.reasons[index]))
        return result
