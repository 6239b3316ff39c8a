"""The alert a finished job posts to the profile's webhook (--notify, or the profile's notify; docs/syncs.md)."""

from __future__ import annotations

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.notify import RunOutcome, current_sync, send_alert


def alert_on_outcome(app: AppContext, report: RunReport, exit_code: int | None) -> None:
    """Post the run's alert when the profile (or --notify) names a webhook; never changes the outcome."""
    sync = current_sync.get()
    if sync is not None:
        sync.recorded = True
    url = app.settings.notify
    if not url:
        return
    finished = report.started_at + (report.duration_s or 0.0)
    send_alert(url, RunOutcome(
        command=report.command, status=report.status,
        exit_code=int(exit_code if exit_code is not None else report.exit_code), profile=app.settings.profile,
        run_id=report.run_id, counts=dict(report.counts), started_at=report.started_at, finished_at=finished,
        dry_run=report.dry_run, sync=sync.name if sync else None))
