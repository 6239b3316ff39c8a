"""Sending to Segment: activities -> events -> full batches (or a payload file, or stdout, or only the plan file),
with a cursor that trails acceptance."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.writeback.activity import Activity, BadActivity
from segmarketo_cli.jobs.writeback.events import EventBuilder, Skip
from segmarketo_cli.jobs.writeback.keyset import Connect, KeyTable, engine_or_private
from segmarketo_cli.jobs.writeback.lookups import AssetNames, LeadDirectory
from segmarketo_cli.paths import open_private, write_failed
from segmarketo_cli.segment import sender as segment_sender
from segmarketo_cli.segment.sender import BatchResult, BatchSender
from segmarketo_cli.segment.spec import LIBRARY, message_size

log = logging.getLogger("segmarketo.writeback")

Message = dict[str, Any]
Position = dict[str, Any]
SENTAT_BYTES = len(', "sentAt": "2000-01-01T00:00:00.000Z"')

DELIVERED_BUCKET = {"send": "sent", "out": "written", "dry-run": "printed"}
DRAIN_ROWS = 5_000  # activities read before the pipeline takes them in as one chunk
MAX_OPEN = 50_000  # activities read and not settled before waiting identities are looked up in a short call


class Sink(Protocol):
    """Where finished batches go: Segment, a payload file, stdout, or nowhere (only --plan-out)."""

    mode: str

    def split(self, messages: list[Message]) -> tuple[list[list[Message]], list[tuple[Message, str]]]: ...

    def deliver(self, batch: list[Message]) -> BatchResult: ...


class SegmentSink:
    """Sends each batch with the BatchSender (retries, bisection); returns only settled results.

    A request-level refusal raises SegmentError: the batch's entries stay open, so the cursor stays before them
    and `Pipeline.abandon` counts them as deferred, never as rejected.
    """

    mode = "send"

    def __init__(self, sender: BatchSender) -> None:
        self.sender = sender

    def split(self, messages: list[Message]) -> tuple[list[list[Message]], list[tuple[Message, str]]]:
        return self.sender.split(messages)

    def deliver(self, batch: list[Message]) -> BatchResult:
        return self.sender.send_batch(batch)


class OutFileSink(SegmentSink):
    """--payloads-out: writes each batch payload (the body POST /v1/batch would get, minus sentAt) as one JSON
    line."""

    mode = "out"
    what = "--payloads-out"

    def __init__(self, splitter: BatchSender, path: Path) -> None:
        super().__init__(splitter)
        self.path = path
        self._handle = open_private(path, self.what)  # the events carry e-mail addresses
        self._failed = False

    def deliver(self, batch: list[Message]) -> BatchResult:
        items = [{k: v for k, v in m.items() if k != "sentAt"} for m in batch]
        payload: dict[str, Any] = {"batch": items, "context": {"library": dict(LIBRARY)}}
        if self.sender.integrations:
            payload["integrations"] = self.sender.integrations
        line = json.dumps(payload, ensure_ascii=False)
        try:
            self._handle.write(line + "\n")
        except OSError as exc:
            self._failed = True
            raise write_failed(self.what, self.path, exc) from None
        return BatchResult(True, None, 0, len(line.encode()), [m["messageId"] for m in batch])

    def close(self) -> None:
        """Flush and close; OutputError when the last batches cannot be written (unless a write already failed)."""
        try:
            self._handle.close()
        except OSError as exc:
            if not self._failed:
                self._failed = True
                raise write_failed(self.what, self.path, exc) from None


class PlanOnlySink(SegmentSink):
    """--plan-out alone: every batch is taken as it is (the plan file gets its rows); nothing is written here."""

    mode = "out"

    def deliver(self, batch: list[Message]) -> BatchResult:
        return BatchResult(True, None, 0, 0, [m["messageId"] for m in batch])


class DryRunSink(SegmentSink):
    """Hands each event to `out` as a JSON line (the CLI prints it on stdout); nothing leaves the machine."""

    mode = "dry-run"

    def __init__(self, splitter: BatchSender, out: Callable[[str], None]) -> None:
        super().__init__(splitter)
        self.out = out

    def deliver(self, batch: list[Message]) -> BatchResult:
        for message in batch:
            self.out(json.dumps({k: v for k, v in message.items() if k != "sentAt"}, ensure_ascii=False))
        return BatchResult(True, None, 0, 0, [m["messageId"] for m in batch])


@dataclass
class _Entry:
    """One activity read, in read order; the cursor may pass it only once `done`."""

    stream: str
    position: Position  # resumes exactly at this activity
    done: bool = False


class Pipeline:
    """Turns activities into events and delivers them in full batches.

    Every activity read gets a ledger entry. It is done when its outcome is final (accepted by Segment,
    skipped, rejected). After each delivered batch, `commit` receives, per stream, the position of the
    first activity not yet done (or the stream's frontier), so the stored cursor never passes an event that
    Segment has not accepted and a crash re-sends at most the batch in flight.
    """

    def __init__(
        self,
        builder: EventBuilder,
        leads: LeadDirectory,
        campaigns: AssetNames,
        subjects: AssetNames,
        sink: Sink,
        report: RunReport,
        rejects: RejectsWriter,
        commit: Callable[[dict[str, Position]], None] | None,
        on_read: Callable[[int], None] | None = None,
        con: Connect | None = None,
        on_delivered: Callable[[list[Message]], None] | None = None,
    ) -> None:
        self.builder = builder
        self.leads = leads
        self.campaigns = campaigns
        self.subjects = subjects
        self.sink = sink
        self.report = report
        self.rejects = rejects
        self.commit_fn = commit
        self.on_read = on_read
        self.on_delivered = on_delivered  # each batch's events the sink took (Segment: accepted), in one call
        self.delivered_bucket = DELIVERED_BUCKET[sink.mode]
        self._ledger: deque[_Entry] = deque()
        self._frontier: dict[str, Position] = {}
        self._waiting: list[tuple[Activity, _Entry]] = []
        self._unknown_leads: dict[int, None] = {}
        self._pending: list[tuple[Message, _Entry]] = []
        self._pending_bytes = 0
        self._seen = KeyTable(engine_or_private(con), "writeback_seen_guids", "VARCHAR")
        self._chunk_seen: set[str] = set()  # the drained chunk's GUIDs that were seen before
        self._buffer: list[tuple[str, Position, Activity | BadActivity | None]] = []
        self._buffered = 0
        self._origins: list[str] = []
        self._last_commit: dict[str, Position] | None = None
        self.batches = 0
        self.batch_bytes = 0
        self.skip_reasons: dict[str, int] = {}
        report.ensure("activities_read", self.delivered_bucket, "skipped_unmapped", "skipped_no_identity",
                      "skipped_duplicate", "rejected")

    # input ---------------------------------------------------------------------------------------
    def add(self, stream: str, position: Position, item: Activity | BadActivity, origin: str) -> None:
        """One activity (or a record that failed to parse) read at `position` of `stream`. It is taken in with its
        chunk: at `drain`, or once `DRAIN_ROWS` activities wait."""
        self._buffer.append((stream, position, item))
        self._origins.append(origin)
        self._buffered += 1
        if self._buffered >= DRAIN_ROWS:
            self.drain()

    def advance(self, stream: str, position: Position) -> None:
        """Everything of `stream` before `position` has been read (e.g. after a page, or an empty page)."""
        if self._buffer:
            self._buffer.append((stream, position, None))
        else:
            self._frontier[stream] = position

    def drain(self) -> None:
        """Take in the activities read since the last drain, in read order, exactly as if each had been taken
        when read: the run's seen GUIDs and looked-up leads are asked about once for the whole chunk. Readers
        drain before their next Marketo call (after each page), so lookups and sends keep their order."""
        ops, origins, self._buffer, self._origins, self._buffered = self._buffer, self._origins, [], [], 0
        activities = [item for _, _, item in ops if isinstance(item, Activity)]
        self._chunk_seen = set(self._seen.lookup(item.guid for item in activities))
        self.leads.load(item.lead_id for item in activities if self.builder.event_name(item.type_id) is not None)
        taken = iter(origins)
        for stream, position, item in ops:
            if item is None:
                self._frontier[stream] = position
            else:
                self._take(stream, position, item, next(taken))
        self._chunk_seen = set()

    def _take(self, stream: str, position: Position, item: Activity | BadActivity, origin: str) -> None:
        while self._ledger and self._ledger[0].done:
            self._ledger.popleft()
        if self._waiting and len(self._ledger) >= MAX_OPEN:
            # The few leads not looked up yet hold back everything read after them (and the cursor with it):
            # look them up now, in a call of fewer than 300 ids.
            self._resolve()
        entry = _Entry(stream, position)
        self._ledger.append(entry)
        self.report.add("activities_read")
        if self.on_read is not None:
            self.on_read(1)
        if isinstance(item, BadActivity):
            self._reject(entry, f"bad activity record: {item}", origin=origin, field=item.field, value=item.value)
            return
        if item.guid in self._chunk_seen:
            self._final(entry, "skipped_duplicate")
            return
        self._chunk_seen.add(item.guid)
        self._seen.add(item.guid)
        if self.builder.event_name(item.type_id) is None:
            name = self.builder.type_names.get(item.type_id, f"id {item.type_id}")
            reason = f"activity type {name} is not written back"
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
            self._final(entry, "skipped_unmapped")
            return
        if item.lead_id in self.leads:
            self._build(item, entry)
            return
        self._waiting.append((item, entry))
        self._unknown_leads[item.lead_id] = None
        if len(self._unknown_leads) >= self.leads.per_call:
            self._resolve()

    def flush(self) -> None:
        """Resolve waiting identities, deliver every remaining event (a partial last batch too), commit."""
        self.drain()
        self._resolve()
        self._deliver(final=True)
        self._commit()

    def abandon(self) -> int:
        """Count what is still in flight (after a failure) as deferred; returns that count. Activities not
        drained yet were never taken in (a failure stops the reader where it was), so they count nowhere."""
        self._buffer, self._origins, self._buffered = [], [], 0
        open_entries = sum(1 for entry in self._ledger if not entry.done)
        if open_entries:
            self.report.add("deferred", open_entries)
        for entry in self._ledger:
            entry.done = True
        return open_entries

    # identity and events ----------------------------------------------------------------------------
    def _resolve(self) -> None:
        if self._unknown_leads:
            self.leads.fetch(list(self._unknown_leads))
            self._unknown_leads.clear()
        waiting, self._waiting = self._waiting, []
        self.campaigns.ensure(activity.campaign_id for activity, _ in waiting)
        self.subjects.ensure(self.builder.email_id(activity) for activity, _ in waiting)
        for activity, entry in waiting:
            self._build(activity, entry)

    def _build(self, activity: Activity, entry: _Entry) -> None:
        if activity.campaign_id is not None and activity.campaign_id not in self.campaigns.names:
            self.campaigns.ensure([activity.campaign_id])
        email_id = self.builder.email_id(activity)
        if email_id is not None and email_id not in self.subjects.names:
            self.subjects.ensure([email_id])
        self.builder.campaign_names = self.campaigns.names
        self.builder.email_subjects = self.subjects.names
        try:
            result = self.builder.build(activity, self.leads.get(activity.lead_id))
        except ValueError as exc:
            self._reject(entry, str(exc), marketoGUID=activity.guid, leadId=activity.lead_id)
            return
        if isinstance(result, Skip):
            self.skip_reasons[result.reason] = self.skip_reasons.get(result.reason, 0) + 1
            log.debug("activity %s of lead %s skipped: %s", activity.guid, activity.lead_id, result.reason)
            self._final(entry, result.bucket)
            return
        self._pending.append((result, entry))
        self._pending_bytes += message_size(result) + SENTAT_BYTES
        # Read the sender's limits at call time (tests shrink them to exercise many batches).
        if (len(self._pending) >= segment_sender.MAX_BATCH_MESSAGES
                or self._pending_bytes >= segment_sender.MAX_BATCH_BYTES):
            self._deliver(final=False)

    # delivery ---------------------------------------------------------------------------------------
    def _deliver(self, *, final: bool) -> None:
        """Send every full batch (and, when `final`, the last partial one); keep the rest pending."""
        if not self._pending:
            return
        entries = {message["messageId"]: entry for message, entry in self._pending}
        batches, refused = self.sink.split([message for message, _ in self._pending])
        for message, reason in refused:
            self._reject(entries[message["messageId"]], reason, **_describe(message))
        keep = [] if final or not batches else batches.pop()
        kept_ids = {m["messageId"] for m in keep}
        self._pending = [(m, e) for m, e in self._pending if m["messageId"] in kept_ids]
        self._pending_bytes = sum(message_size(m) + SENTAT_BYTES for m, _ in self._pending)
        for batch in batches:
            result = self.sink.deliver(batch)
            self.batches += 1
            self.batch_bytes += result.bytes
            for message_id in result.message_ids:
                self._final(entries[message_id], self.delivered_bucket)
            if self.on_delivered is not None and result.message_ids:
                by_id = {m["messageId"]: m for m in batch}
                self.on_delivered([by_id[message_id] for message_id in result.message_ids])
            for message, reason in result.rejected:
                self._reject(entries[message["messageId"]], reason, **_describe(message))
            log.info("batch %d: %d events %s (%s bytes, %d refused)", self.batches, len(batch),
                     self.delivered_bucket, f"{result.bytes:,}", len(result.rejected),
                     extra={"data": {"event": "batch", "batch": self.batches, "events": len(batch),
                                     "bytes": result.bytes, "refused": len(result.rejected)}})
            self._commit()

    def _final(self, entry: _Entry, bucket: str) -> None:
        entry.done = True
        self.report.add(bucket)

    def _reject(self, entry: _Entry, reason: str, **fields: Any) -> None:
        self.rejects.write(reason, **fields)
        self._final(entry, "rejected")

    # cursor -------------------------------------------------------------------------------------------
    def positions(self) -> dict[str, Position]:
        """Per stream: where a new run must resume so that nothing not yet done is skipped."""
        while self._ledger and self._ledger[0].done:
            self._ledger.popleft()
        result = dict(self._frontier)
        seen: set[str] = set()
        for entry in self._ledger:
            if not entry.done and entry.stream not in seen:
                seen.add(entry.stream)
                result[entry.stream] = entry.position
        return result

    def _commit(self) -> None:
        if self.commit_fn is None:
            return
        positions = self.positions()
        if positions and positions != self._last_commit:
            self.commit_fn(positions)
            self._last_commit = positions


def _describe(message: Message) -> dict[str, Any]:
    """Fields identifying a refused event in the rejects file (never the whole payload)."""
    props = message.get("properties") or {}
    return {
        "messageId": message.get("messageId"),
        "event": message.get("event"),
        "marketoGUID": props.get("marketo_activity_id"),
        "leadId": props.get("marketo_lead_id"),
        "bytes": message_size(message),
    }

