"""--notify and the alert a finished job posts to the profile's webhook (docs/syncs.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.notify import RunOutcome, current_sync, send_alert

F = Callable[..., Any]


def _set_notify(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).override(notify=value)


def notify_option(f: F) -> F:
    """--notify: a settings flag (like --memory-limit), so it goes straight into the profile's settings."""
    return click.option(
        "--notify",
        metavar="URL",
        default=None,
        expose_value=False,
        callback=_set_notify,
        help="Webhook (e.g. a Slack incoming webhook) to POST a short JSON to when the run is failed, partial, "
        "deferred or refused [default: the profile's notify; env SEGMARKETO_NOTIFY].",
    )(f)


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
