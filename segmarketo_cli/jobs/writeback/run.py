"""The writeback job: read Marketo activity in the prepared window (or from the cursor) and deliver track events."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli.endpoints import munchkin_id
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.batchpool import workers_for
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.writeback.activity import parse_activity_date
from segmarketo_cli.jobs.writeback.events import EventBuilder
from segmarketo_cli.jobs.writeback.execute import (
    DELIVERED_BUCKET,
    DryRunSink,
    OutFileSink,
    Pipeline,
    PlanOnlySink,
    Position,
    SegmentSink,
    Sink,
)
from segmarketo_cli.jobs.writeback.lookups import (
    CAMPAIGNS_KEY,
    SUBJECTS_KEY,
    AssetNames,
    LeadDirectory,
    campaign_names,
    email_subjects,
    resolve_type_ids,
)
from segmarketo_cli.jobs.writeback.plan import (
    BULK_WINDOW_DAYS,
    bulk_windows,
    iso_seconds,
    retention_warning,
)
from segmarketo_cli.jobs.writeback.plan_out import PlanFileWriter, event_change
from segmarketo_cli.jobs.writeback.prepare import CURSOR, PreparedWriteback, load_cursor, no_cursor
from segmarketo_cli.jobs.writeback.read_bulk import BULK_STREAM, BulkReader, BulkResult
from segmarketo_cli.jobs.writeback.read_rest import RestResult, collapse, read_rest, stream_key, type_groups
from segmarketo_cli.segment.sender import BatchSender

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.state import StateStore

log = logging.getLogger("segmarketo.writeback")


def save_start(store: StateStore, instance: str, since: datetime) -> None:
    """Store the first run's window start before its first read, so a run that stops early (exit 75) is resumed
    by the next run without --since. It is a date position, the shape a bulk run stores between exports."""
    cursor = {"mode": "bulk", "date": iso_seconds(since), "guid": None, "export_id": None}
    store.set_cursor(instance, CURSOR, json.dumps(cursor))


def run(ctx: JobContext, prepared: PreparedWriteback) -> RunReport:
    """Read activities in the window (or from the cursor) and deliver them; buckets land in `ctx.report`.
    Bulk Extract status checks come every `options.poll_interval_s`, waited with `ctx.sleep`."""
    with ctx.progress(None, "activities", unit="act") as bar:
        _read_and_deliver(ctx, prepared, bar.update)
    return ctx.report


def _read_and_deliver(ctx: JobContext, prepared: PreparedWriteback, on_read: Callable[[int], None]) -> None:
    job, options, report, store, settings = prepared.profile, prepared.options, ctx.report, ctx.store, ctx.settings
    window = prepared.window
    marketo = ctx.marketo()
    instance = marketo.instance
    cursor = load_cursor(store, instance)
    start_date = window.since
    if window.since is None:
        if cursor is None:
            raise no_cursor(settings.profile)
        start_date = parse_activity_date(cursor["date"]) if cursor["mode"] == "bulk" else None
    elif cursor is None and options.sends:
        save_start(store, instance, window.since)
    if options.bulk and start_date is None:
        raise ConfigError("--bulk needs --since: the stored cursor is a paging token, which has no date")
    use_bulk = start_date is not None and (options.bulk or window.until - start_date > job.bulk_after)

    type_names, missing = resolve_type_ids(marketo, store, job.events, job.explicit_types)
    if missing:
        report.notes.append(f"activity types not in this Marketo instance, skipped: {', '.join(missing)}")
    warning = retention_warning(window.since, prepared.now, job.events)
    if warning:
        report.notes.append(warning)
        log.warning(warning)

    builder = EventBuilder(
        events=job.events,
        type_names=type_names,
        munchkin=munchkin_id(instance),
        integrations=job.integrations,
        identity_mode=job.identity,
        user_id_field=settings.user_id_field,
    )
    sink = _sink(ctx, prepared)
    writes = sink.mode == "send"
    plan = PlanFileWriter(options.plan_out) if options.plan_out is not None and not writes else None
    mode = "bulk" if use_bulk else "rest"

    def commit(positions: dict[str, Position]) -> None:
        if BULK_STREAM in positions:  # a bulk run, or a REST run that handed over to Bulk Extract
            doc = {"mode": "bulk", **positions[BULK_STREAM]}
        else:
            doc = {"mode": "rest", "streams": collapse(positions)}
        store.set_cursor(instance, CURSOR, json.dumps(doc))

    def engine() -> duckdb.DuckDBPyConnection:  # opened only when a key set outgrows memory (keyset.py)
        return ctx.engine().con

    directory = LeadDirectory(marketo, settings.user_id_field, engine)
    campaigns = AssetNames(marketo, store, CAMPAIGNS_KEY, campaign_names)
    subjects = AssetNames(marketo, store, SUBJECTS_KEY, email_subjects)
    def accepted(messages: list[dict[str, Any]]) -> None:  # one change log record per batch Segment accepted
        ctx.changes.record(event_change(m) for m in messages)

    pipeline = Pipeline(builder, directory, campaigns, subjects, sink, report, ctx.rejects,
                        commit if writes else None, on_read=on_read, con=engine,
                        on_delivered=accepted if writes else plan.add if plan is not None else None)
    report.details.update({
        "mode": mode,
        "window": {"since": iso_seconds(start_date) if start_date else "stored cursor",
                   "until": iso_seconds(window.until)},
        "activity_types": {name: job.events[_key(job.events, name)] for name in sorted(type_names.values())},
        "identity": job.identity,
        "delivery": sink.mode,
    })
    report.expect_balance("activities_read", DELIVERED_BUCKET[sink.mode], "skipped_unmapped", "skipped_no_identity",
                          "skipped_duplicate", "rejected", "deferred")
    try:
        if use_bulk and options.dry_run:
            assert start_date is not None
            _plan_bulk(report, start_date, window.until)
        elif use_bulk:
            assert start_date is not None
            resume = cursor if cursor and cursor["mode"] == "bulk" and window.since is None else None
            reader = BulkReader(marketo, store, pipeline, list(type_names), folder=ctx.engine().temp_dir,
                                poll_interval_s=options.poll_interval_s, sleep=ctx.sleep)
            _note_bulk(report, reader.read(start_date, window.until, resume))
        else:
            starts = _rest_starts(marketo, list(type_names), start_date, cursor)
            result = read_rest(marketo, pipeline, starts, window.until, workers=workers_for(marketo),
                               prefetch=directory.prefetch)
            _note_rest(report, result)
            if result.capped_streams:
                _bulk_after_cap(marketo, store, pipeline, report, result, window.until, dry_run=options.dry_run,
                                folder=ctx.engine().temp_dir, poll_interval_s=options.poll_interval_s,
                                sleep=ctx.sleep)
        pipeline.flush()
    except BaseException:
        pipeline.abandon()
        raise
    finally:
        if isinstance(sink, OutFileSink):
            sink.close()
        if plan is not None:
            plan.close()  # what was planned, also when the run stopped early
        report.details["distinct_leads"] = len(directory)
        if pipeline.skip_reasons:
            report.details["skipped"] = dict(pipeline.skip_reasons)
        report.details["segment_batches"] = pipeline.batches
        if pipeline.batches:
            report.details["avg_batch_bytes"] = pipeline.batch_bytes // pipeline.batches
    if not writes:
        why = "dry run" if options.dry_run else "--plan-out" if options.plan_out else "--payloads-out"
        report.notes.append(f"{why}: nothing sent, the cursor was not moved")
    if plan is not None:
        report.notes.append(f"plan written to {options.plan_out} ({plan.rows:,} rows)")
    if options.payloads_out is not None:
        report.notes.append(f"batch payloads written to {options.payloads_out}")


def _plan_bulk(report: RunReport, start: datetime, until: datetime) -> None:
    """A dry run in bulk mode: say which export jobs a real run would make, without creating any (a job takes a
    queue slot shared with every integration and counts against the daily export volume)."""
    windows = bulk_windows(start, until)
    report.details["bulk"] = {"exports_created": 0, "exports_planned": len(windows),
                              "windows": [f"{iso_seconds(a)}/{iso_seconds(b)}" for a, b in windows]}
    report.notes.append(
        f"dry run: a real run reads this window with {len(windows)} Bulk Activity Extract job(s) of at most "
        f"{BULK_WINDOW_DAYS} days; no export job was created and no event is printed (a window shorter than "
        "--bulk-threshold, without --bulk, previews events through REST paging)"
    )


def _note_bulk(report: RunReport, result: BulkResult) -> None:
    report.details["bulk"] = {"exports_created": result.exports, "resumed_export": result.resumed_export,
                              "status_polls": result.polls}
    if result.stopped_at:
        report.notes.append(f"finished the interrupted export {result.resumed_export}; activity after "
                            f"{iso_seconds(result.stopped_at)} is left for the next run")


def _note_rest(report: RunReport, result: RestResult) -> None:
    report.details["pages"] = result.pages
    if result.slices > 1:
        report.details["time_slices"] = result.slices
    if result.capped_streams:
        report.details["empty_page_cap"] = {"streams": sorted(result.capped_streams),
                                            "read_through": min(d or "" for d in result.capped_streams.values())
                                            or None}


def _bulk_after_cap(
    marketo: MarketoClient,
    store: StateStore,
    pipeline: Pipeline,
    report: RunReport,
    result: RestResult,
    until: datetime,
    *,
    dry_run: bool,
    folder: Path,
    poll_interval_s: float,
    sleep: Callable[[float], None],
) -> None:
    """A busy instance answered a long run of empty pages (each one scans 300 activities of every type; Adobe KB
    https://experienceleague.adobe.com/en/docs/experience-cloud-kcs/kbarticles/ka-29362). Paging on would
    fall behind for ever, so the rest of those streams' window is read with Bulk Activity Extract."""
    dates = list(result.capped_streams.values())
    types = sorted({int(i) for key in result.capped_streams for i in key.split(",")})
    if any(date is None for date in dates):
        note = ("stopped paging after a long run of empty activity pages, and the stored position has no date to "
                "hand over to Bulk Activity Extract from: the next run pages on from here. To catch up at once, "
                "run 'segmarketo writeback --since <the last day you know was written back> --bulk'")
        report.notes.append(note)
        log.warning(note)
        return
    start = parse_activity_date(min(d for d in dates if d))
    window = f"{iso_seconds(start)} to {iso_seconds(until)}"
    if dry_run:
        report.notes.append(f"dry run: stopped paging after a long run of empty activity pages; a real run reads "
                            f"{window} with Bulk Activity Extract (no export job was created)")
        return
    log.warning("a long run of empty activity pages: reading %s with Bulk Activity Extract", window)
    report.notes.append(f"a long run of empty activity pages (a busy instance): read {window} with Bulk "
                        "Activity Extract instead")
    pipeline.flush()  # deliver and commit what paging read, so the cursor changes format with nothing pending
    reader = BulkReader(marketo, store, pipeline, types, folder=folder, poll_interval_s=poll_interval_s, sleep=sleep)
    _note_bulk(report, reader.read(start, until, None))
    report.details["mode"] = "rest+bulk"


def _key(events: dict[str, str], name: str) -> str:
    return next(k for k in events if k.lower() == name.lower())


def _sink(ctx: JobContext, prepared: PreparedWriteback) -> Sink:
    options, integrations = prepared.options, prepared.profile.integrations
    if not options.sends:
        # Only split() is used, which needs no write key; this sender never sends.
        splitter = BatchSender(ctx.settings.segment_endpoint, "-", integrations=integrations)
        if options.payloads_out is not None:
            return OutFileSink(splitter, options.payloads_out)
        if options.plan_out is not None:
            return PlanOnlySink(splitter)
        return DryRunSink(splitter, ctx.out)
    sender = ctx.segment()
    sender.integrations = dict(integrations)
    return SegmentSink(sender)


def _rest_starts(
    marketo: MarketoClient, type_ids: list[int], start: datetime | None, cursor: dict[str, Any] | None
) -> dict[str, Position]:
    """Start position of each ≤10-type stream: a paging token at `start` (--since, or the date a bulk cursor
    stored), else the stored paging positions."""
    groups = [stream_key(g) for g in type_groups(type_ids)]
    if start is not None:
        token = marketo.get_paging_token(start)
        return {key: {"token": token, "after": None, "date": iso_seconds(start)} for key in groups}
    stored: dict[str, Position] = (cursor or {}).get("streams") or {}
    if not stored:
        raise ConfigError("the stored writeback cursor holds no position; run once with --since")
    starts: dict[str, Position] = {}
    for key in groups:
        if key in stored:
            starts[key] = stored[key]
            continue
        # The type set changed: a paging token is a position in the whole activity stream, so the stored stream
        # sharing most types is the best place to continue from (its skip marker does not apply here).
        ids = set(key.split(","))
        best = max(stored, key=lambda k: len(ids & set(k.split(","))))
        starts[key] = {"token": stored[best]["token"], "after": None}
        if stored[best].get("date"):
            starts[key]["date"] = stored[best]["date"]
    return starts
