"""`segmarketo writeback`: Marketo e-mail and program activity -> Segment track events."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from segmarketo_cli.cli.aliases import aliased_option
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options
from segmarketo_cli.cli.rejects_options import strict_option
from segmarketo_cli.config.sections import IDENTITY_MODES
from segmarketo_cli.jobs.writeback.prepare import WritebackOptions, prepare
from segmarketo_cli.jobs.writeback.run import run


@click.command("writeback", epilog=epilog("writeback"))
@click.option("--since", metavar="WHEN", default=None,
              help="Start: ISO date/datetime (naive = UTC) or a duration back from now (90m, 24h, 7d). "
                   "Default: resume from the stored cursor.")
@click.option("--until", metavar="WHEN", default=None, help="End of the window, same formats [default: now].")
@click.option("--activity-types", metavar="LIST", default=None,
              help="Comma-separated activity types: 'Open Email,Click Email' selects, "
                   "'+Visit Webpage=Page Visited' adds, '+Send Email' adds a Marketo extra under its known name, "
                   "'-Email Delivered' drops; 'Type=Event' renames.")
@click.option("--identity", type=click.Choice(IDENTITY_MODES), default=None,
              help="auto: userId when the lead has one, else anonymousId marketo:<leadId>; "
                   "user-id-only: skip leads without a userId [default: auto].")
@click.option("--bulk", is_flag=True, help="Use Bulk Activity Extract whatever the window length.")
@aliased_option("--bulk-threshold", "bulk_threshold", hidden_aliases=["--bulk-after"],
                type=click.FloatRange(min=0, min_open=True), metavar="DAYS", default=None,
                help="Use Bulk Activity Extract for windows longer than DAYS [default: 7].")
@aliased_option("--plan-out", "plan_out", hidden_aliases=["--out"], metavar="FILE",
                type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
                help="Write the events to FILE instead of sending, one row per event (messageId, lead, event, "
                     "userId/anonymousId, activity): CSV, JSON lines, Parquet or Excel by its extension.")
@click.option("--payloads-out", metavar="FILE", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write the Segment batch payloads (one JSON line per batch) to FILE instead of "
                                 "sending.")
@strict_option
@job_options
@click.pass_obj
def writeback(
    app: AppContext,
    since: str | None,
    until: str | None,
    activity_types: str | None,
    identity: str | None,
    bulk: bool,
    bulk_threshold: float | None,
    plan_out: Path | None,
    payloads_out: Path | None,
    dry_run: bool,
    as_json: bool,
    rejects_path: str | None,
) -> None:
    """Send Marketo activity to Segment as track events (Segment's Email spec by default).

    \b
    Default events, all in Segment's Email spec: Email Delivered -> Email Delivered,
    Email Bounced / Email Bounced Soft -> Email Bounced, Unsubscribe Email -> Unsubscribed,
    Open Email -> Email Opened, Click Email -> Email Link Clicked.
    Marketo extras, not in the spec, only on request ([writeback] marketo_extras = true,
    or e.g. --activity-types '+Send Email'): Send Email -> Email Sent,
    Change Status in Progression -> Program Status Changed, Fill Out Form -> Form Submitted.

    messageIds come from the Marketo instance and activity, so re-runs and overlapping windows
    are deduplicated by Segment. The cursor moves only after Segment accepted the events.
    --dry-run prints the events as JSON lines on stdout and sends nothing (with --json, stdout is
    the report alone). --plan-out FILE writes one row per event instead and sends nothing either;
    --payloads-out FILE writes the batch payloads. A real run logs every event Segment accepted:
    'segmarketo runs show RUN --changes'.
    """
    options = WritebackOptions(
        since=since, until=until, activity_types=activity_types, identity=identity, bulk=bulk,
        bulk_after_days=bulk_threshold, plan_out=plan_out, payloads_out=payloads_out, dry_run=dry_run,
    )
    services = app.services()
    # Bad flags or config, or a first run without --since: one line and exit 2, no run recorded.
    prepared = prepare(app.settings, options, services)
    # writeback only reads Marketo: it needs no instance lock, so it never makes a writing job wait
    run_job(app, "writeback", functools.partial(run, prepared=prepared), services=services, dry_run=dry_run,
            as_json=as_json, rejects_path=rejects_path, writes_marketo=False)
