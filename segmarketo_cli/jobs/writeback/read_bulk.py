"""Reading activities with Bulk Activity Extract: export jobs of ≤31 days, checkpointed so a crash resumes the job."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import MarketoError
from segmarketo_cli.jobs.extract_file import csv_rows, downloaded_extract
from segmarketo_cli.jobs.writeback.activity import activity_from_bulk_row, parse_activity_date, parse_record, safe_date
from segmarketo_cli.jobs.writeback.execute import Pipeline, Position
from segmarketo_cli.jobs.writeback.plan import bulk_windows, iso_seconds
from segmarketo_cli.marketo.bulk import EXTRACT_POLL_INTERVAL_S
from segmarketo_cli.state import StateStore
from segmarketo_cli.waits import waiting

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

log = logging.getLogger("segmarketo.writeback")

BULK_STREAM = "bulk"
EXPORT_CHECKPOINT = "writeback.export"
POLL_INTERVAL_S = EXTRACT_POLL_INTERVAL_S
DONE_STATES = ("Completed",)
FAILED_STATES = ("Failed", "Cancelled", "Canceled")
FLOOR_BLOCK = 10_000  # rows held at once to know the earliest date still ahead in an extract file


@dataclass
class BulkResult:
    """What a bulk read did: export jobs created, the one resumed, where it stopped early, status polls."""

    exports: int = 0
    resumed_export: str | None = None
    stopped_at: datetime | None = None
    polls: int = 0


class BulkReader:
    """Bulk Activity Extract in windows of ≤31 days; the export id is checkpointed so a crash resumes the job."""

    def __init__(
        self,
        client: MarketoClient,
        store: StateStore,
        pipeline: Pipeline,
        type_ids: Sequence[int],
        *,
        folder: Path,
        poll_interval_s: float = POLL_INTERVAL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.store = store
        self.pipeline = pipeline
        self.type_ids = sorted(set(type_ids))
        self.folder = folder  # where each extract file is kept while it is read: the engine's spill folder
        self.poll_interval_s = poll_interval_s
        self.sleep = sleep
        self.result = BulkResult()

    def read(self, start: datetime, until: datetime, resume: Position | None) -> BulkResult:
        """Every activity with start ≤ activityDate ≤ until; `resume` is the stored bulk position, if any."""
        checkpoint = self._checkpoint()
        windows = bulk_windows(start, until)
        if checkpoint and self._matches(checkpoint, start):
            # Finish the interrupted job and stop at its end: the stored cursor then sits there and the next run
            # continues, instead of creating another export for the few minutes since the interruption.
            job_end = parse_activity_date(checkpoint["end"])
            windows = [(start, job_end)]
            self.result.resumed_export = checkpoint["export_id"]
            self.result.stopped_at = job_end if job_end < until else None
        elif checkpoint:
            self._discard(checkpoint)
            checkpoint = None
        self.pipeline.advance(BULK_STREAM, {"date": iso_seconds(start), "guid": None, "export_id": None})
        for index, (window_start, window_end) in enumerate(windows):
            job = checkpoint if index == 0 and checkpoint else None
            export_id, status = self._run_export(window_start, window_end, job)
            skip_through = resume.get("guid") if resume and resume.get("export_id") == export_id else None
            with downloaded_extract(self.client, "activities", export_id, status, self.folder) as path:
                self._feed(path, export_id, max(start, window_start), window_end, min(until, windows[-1][1]),
                           skip_through)
            self.pipeline.advance(BULK_STREAM, {"date": iso_seconds(window_end), "guid": None, "export_id": None})
            self.pipeline.flush()
            self.store.delete_cursor(self.client.instance, EXPORT_CHECKPOINT)
        return self.result

    # export jobs ------------------------------------------------------------------------------------
    def _checkpoint(self) -> dict[str, Any] | None:
        raw = self.store.get_cursor(self.client.instance, EXPORT_CHECKPOINT)
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = None
        return value if isinstance(value, dict) and value.get("export_id") else None

    def _matches(self, checkpoint: dict[str, Any], start: datetime) -> bool:
        try:
            job_start = parse_activity_date(checkpoint["start"])
            job_end = parse_activity_date(checkpoint["end"])
        except (KeyError, TypeError, ValueError):
            return False
        return checkpoint.get("types") == self.type_ids and job_start <= start < job_end

    def _discard(self, checkpoint: dict[str, Any]) -> None:
        """Cancel a checkpointed job this run cannot use, so it stops taking a queue slot."""
        try:
            self.client.bulk_extract_cancel("activities", checkpoint["export_id"])
        except MarketoError as exc:
            log.info("could not cancel stale export %s: %s", checkpoint["export_id"], exc)
        self.store.delete_cursor(self.client.instance, EXPORT_CHECKPOINT)

    def _create(self, window_start: datetime, window_end: datetime) -> str:
        export_id = self.client.bulk_extract_create(
            "activities",
            filter={
                "createdAt": {"startAt": iso_seconds(window_start), "endAt": iso_seconds(window_end)},
                "activityTypeIds": self.type_ids,
            },
        )
        checkpoint = {"export_id": export_id, "start": iso_seconds(window_start), "end": iso_seconds(window_end),
                      "types": self.type_ids}
        self.store.set_cursor(self.client.instance, EXPORT_CHECKPOINT, json.dumps(checkpoint))
        self.result.exports += 1
        return export_id

    def _run_export(
        self, window_start: datetime, window_end: datetime, job: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any]]:
        """Create (or resume) the window's job, enqueue it and poll until Completed; one re-create on failure.
        Returns the export id and its Completed status row (which holds the file's checksum)."""
        export_id = job["export_id"] if job else self._create(window_start, window_end)
        recreated = False
        status = "" if job else "Created"  # a resumed job's state is unknown; a new one is Created
        row: dict[str, Any] = {}
        since = time.monotonic()
        while True:
            if not status:
                row = self.client.bulk_extract_status("activities", export_id)
                status = str(row.get("status", ""))
                self.result.polls += 1
            if status in DONE_STATES:
                return export_id, row
            if status in FAILED_STATES:
                if recreated:
                    raise MarketoError("", f"bulk activity export {export_id} ended '{status}' twice; giving up")
                log.warning("bulk activity export %s ended '%s'; creating it again", export_id, status)
                export_id, recreated, status = self._create(window_start, window_end), True, "Created"
                continue
            if status == "Created":
                self.client.bulk_extract_enqueue("activities", export_id)
            log.info("bulk activity export %s is %s; next status check in %.0f s", export_id,
                     status if status != "Created" else "queued", self.poll_interval_s)
            with waiting(f"bulk extract {status.lower() if status != 'Created' else 'queued'}", since=since):
                self.sleep(self.poll_interval_s)
            status = ""

    # rows ---------------------------------------------------------------------------------------------
    def _feed(
        self, path: Path, export_id: str, start: datetime, end: datetime, until: datetime, skip_through: str | None
    ) -> None:
        """Rows with start <= activityDate < end (<= until in the last window), in two passes over the file on
        disk so that neither the file nor a row list is kept and memory stays flat. Window edges are half-open
        so a row on a boundary is read once. A failure part-way through the file delivers the rows before it
        first, as if each row had been taken in when read."""
        begin, later = self._scan(path, skip_through)
        previous = skip_through if begin else None
        try:
            for index, line, row, moment, floor in _with_floor(csv_rows(path), later):
                if index < begin or (moment is not None and not _inside(moment, start, end, until)):
                    continue
                # A new export (after a crash) resumes from the earliest date still ahead in this file, so the
                # cursor stays right even if the file is not sorted by date (its order is UNCONFIRMED).
                position = {"date": iso_seconds(floor or start), "guid": previous, "export_id": export_id}
                item = parse_record(activity_from_bulk_row, row)
                self.pipeline.add(BULK_STREAM, position, item, origin=f"export {export_id} line {line}")
                previous = row.get("marketoGUID") or previous
                self.pipeline.advance(BULK_STREAM, {**position, "guid": previous})
        except Exception:
            self.pipeline.drain()
            raise

    @staticmethod
    def _scan(path: Path, skip_through: str | None) -> tuple[int, list[datetime | None]]:
        """First pass: the index just past the row `skip_through` (0 when absent), and for each block of
        FLOOR_BLOCK rows the earliest date in the blocks after it."""
        begin = 0
        lows: list[datetime | None] = []
        for index, (_, row) in enumerate(csv_rows(path)):
            if index % FLOOR_BLOCK == 0:
                lows.append(None)
            moment = safe_date(row.get("activityDate"))
            if moment is not None and (lows[-1] is None or moment < lows[-1]):
                lows[-1] = moment
            if skip_through is not None and row.get("marketoGUID") == skip_through:
                begin = index + 1
        return begin, _suffix_min(lows[1:] + [None])


def _with_floor(
    rows: Iterator[tuple[int, dict[str, str]]], later: list[datetime | None]
) -> Iterator[tuple[int, int, dict[str, str], datetime | None, datetime | None]]:
    """(index, line, row, its date, the earliest date at or after it) for each row; `later[b]` is the earliest
    date after block b, so only one block of rows is held at a time."""
    index = 0
    for after in later:
        held = list(itertools.islice(rows, FLOOR_BLOCK))
        dates = [safe_date(row.get("activityDate")) for _, row in held]
        floors = _suffix_min([*dates, after])
        for offset, (line, row) in enumerate(held):
            yield index, line, row, dates[offset], floors[offset]
            index += 1


def _inside(moment: datetime, start: datetime, end: datetime, until: datetime) -> bool:
    if moment < start or moment > until:
        return False
    return moment < end or end >= until


def _suffix_min(dates: list[datetime | None]) -> list[datetime | None]:
    """For each index, the earliest date at or after it."""
    floor: list[datetime | None] = [None] * len(dates)
    lowest: datetime | None = None
    for index in range(len(dates) - 1, -1, -1):
        moment = dates[index]
        if moment is not None and (lowest is None or moment < lowest):
            lowest = moment
        floor[index] = lowest
    return floor
