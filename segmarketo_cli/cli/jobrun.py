"""The frame every job command runs in: lock, run record, report, rejects file, exit code."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click

from segmarketo_cli import paths
from segmarketo_cli.cli.alerts import alert_on_outcome
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.progress import progress_factory, showing_waits
from segmarketo_cli.cli.rejects_options import RENAMED_ORIGINS, STRICT
from segmarketo_cli.cli.render import render_report, summary_line
from segmarketo_cli.cli.run_context import run_context
from segmarketo_cli.cli.signals import RunSignals, run_signals
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.errors import ExitCode, SegmarketoError, StateError
from segmarketo_cli.http import redact
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.known_rejects import KnownRejects
from segmarketo_cli.jobs.quota import add_quota
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport, run_id_prefix
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.logs import run_fields
from segmarketo_cli.state import InstanceLock, ProfileLock
from segmarketo_cli.state.change_log import discard_writer
from segmarketo_cli.timeparse import duration_s

log = logging.getLogger("segmarketo.job")

EXIT_STATUS = {ExitCode.TEMPFAIL: "deferred", ExitCode.REFUSED: "refused", ExitCode.INTERRUPTED: "interrupted"}


def run_job(
    app: AppContext,
    command: str,
    body: Callable[[JobContext], object],
    *,
    services: Services | None = None,
    show_plan: Callable[[Any], None] | None = None,
    dry_run: bool = False,
    as_json: bool = False,
    rejects_path: str | None = None,
    writes_marketo: bool = True,
) -> NoReturn:
    """Run `body` (a job's `run` bound to its prepared input) under the profile lock, and the instance lock when
    it writes to Marketo; render the report and exit with its code. `services`: the ones `prepare` used;
    `show_plan`: renders a dry run's plan, called only for a human-readable dry run."""
    ctx = click.get_current_context()
    if rejects_path:
        paths.check_writable(Path(rejects_path), "--rejects")  # not only when the first reject comes, mid-run
    frame = RunFrame(command, services=services or app.services(), context=run_context(ctx, app.settings.profile),
                     show_plan=show_plan if show_plan and dry_run and not as_json else _ignore,
                     out=_ignore if as_json else click.echo, dry_run=dry_run, rejects_path=rejects_path,
                     writes_marketo=writes_marketo, strict=bool(ctx.meta.get(STRICT)),
                     renamed_origins=ctx.meta.get(RENAMED_ORIGINS), progress=_shows_progress(app))
    outcome = run_recorded(app, frame, body)
    render_report(outcome.report, as_json=as_json, quiet=app.quiet)
    alert_on_outcome(app, outcome.report, outcome.exit_code)
    if outcome.store_error is not None:
        raise outcome.store_error
    ctx.exit(outcome.exit_code)


@dataclass
class RunFrame:
    """How one run is framed, without click: its command, services, the context `runs show` keeps, where its
    dry-run lines and plan go, its rejects file and whether progress bars and the wait line are shown."""

    command: str
    services: Services
    context: dict[str, Any]
    show_plan: Callable[[Any], None] = field(default=lambda plan: None)
    out: Callable[[str], None] = field(default=lambda line: None)
    dry_run: bool = False
    rejects_path: str | None = None
    writes_marketo: bool = True
    strict: bool = False
    renamed_origins: Any = None
    progress: bool = False
    say: Callable[[str], None] = field(default=lambda line: click.echo(line, err=True))


@dataclass
class RunOutcome:
    """A recorded run: its report, its exit code and a state store error met while recording its end."""

    report: RunReport
    exit_code: int
    store_error: StateError | None


def run_recorded(app: AppContext, frame: RunFrame, body: Callable[[JobContext], object]) -> RunOutcome:
    """The run itself (`run_job` without the terminal): locks, run record, rejects file, report. Also used by
    `segmarketo listen` for each flush, off the main thread (where no signal handler is installed)."""
    settings = app.settings
    command, services = frame.command, frame.services
    with ExitStack() as locks:
        signals = locks.enter_context(run_signals())
        locks.enter_context(ProfileLock(paths.state_dir(), settings.profile))
        store = app.store
        for run_id in store.abandon_unfinished_runs():
            # Runs whose process died (SIGKILL, power loss) without recording an end; the store now says abandoned.
            frame.say(f"segmarketo: run {run_id} was abandoned (process gone)")
        if not frame.dry_run:  # the change log's bounded retention: the profile's keep_changes (docs/state.md)
            store.change_log.expire(run_id_prefix(time.time() - duration_s(settings.keep_changes,
                                                                            what="keep_changes")))
        instance = ""
        if settings.marketo_endpoint:
            # "Once" belongs to the Marketo instance: one job writing to it at a time, on the one ledger that
            # the registry says is the instance's (a second home is refused here, before the run is recorded).
            instance = normalize_endpoint(settings.marketo_endpoint, what="Marketo endpoint")
            if frame.writes_marketo and not frame.dry_run:
                locks.enter_context(InstanceLock(store.ledger_path(instance), instance, settings.profile))
            store.ledger(instance)
        report = RunReport(command=command, dry_run=frame.dry_run)
        locks.enter_context(run_fields(report.run_id, settings.profile, command))
        locks.enter_context(showing_waits(frame.progress))
        default_rejects = paths.state_dir() / "rejects" / f"{command}-{report.run_id}.jsonl"
        report.strict = frame.strict
        known = KnownRejects(store.reject_history, command, report.run_id, remember=not frame.dry_run)
        rejects = RejectsWriter(Path(frame.rejects_path) if frame.rejects_path else default_rejects,
                                "--rejects" if frame.rejects_path else "rejects file", known=known,
                                renamed_origins=frame.renamed_origins)
        # With --json, stdout is the report alone: dry-run lines and plans are for people (or --plan-out).
        env = JobContext(services=services, report=report, rejects=rejects, progress=progress_factory(frame.progress),
                         out=frame.out, show_plan=frame.show_plan,
                         changes=store.change_log.writer(report.run_id, instance) if not frame.dry_run
                         else discard_writer(report.run_id))
        store.start_run(report.run_id, command, report.started_at, context=frame.context)
        exit_code: int | None = None
        try:
            with signals.interruptible():
                body(env)
        except SegmarketoError as exc:
            if signals.received is None:
                exit_code = exc.exit_code
                _record_error(report, exc)
            else:  # what a signal cut short (a DuckDB query ends "interrupted") is not the run's outcome
                exit_code = _interrupted(report, signals)
        except KeyboardInterrupt:
            exit_code = _interrupted(report, signals)
        except Exception as exc:
            if signals.received is not None:
                exit_code = _interrupted(report, signals)
            else:
                # A bug, not a user's mistake: record the run as failed (never "ok"), then let it surface.
                report.error = f"internal error: {type(exc).__name__}"
                report.forced_status = "failed"
                raise
        finally:
            services.close_engine()
            try:
                rejects.close()
            except SegmarketoError as exc:  # the last rejects could not be written (disk full)
                if exit_code is None:
                    exit_code = exc.exit_code
                    _record_error(report, exc)
            services.count_calls(report)
            # A store deleted or broken mid-run must not hide the run's own outcome: render it, then say so.
            store_error = _unless_store_fails(services.record_usage)
            store_error = store_error or _unless_store_fails(lambda: add_quota(report, store, settings))
            report.rejects_file = rejects.written
            report.rejects_written, report.known_rejects = rejects.count, rejects.known_count
            report.finish()
            data = report.to_dict()
            store_error = _unless_store_fails(lambda: known.settle(report.status)) or store_error
            store_error = _unless_store_fails(
                lambda: store.finish_run(report.run_id, report.status, data, rejected=report.rejected)) or store_error
            log.info("%s", summary_line(data), extra={"data": {"event": "summary", **data}})
    return RunOutcome(report, exit_code if exit_code is not None else report.exit_code, store_error)


def _shows_progress(app: AppContext) -> bool:
    """Bars and the wait line go to stderr only when it is a terminal (not under cron) and without --quiet."""
    return app.stderr_is_tty and not app.quiet


def _ignore(plan: Any) -> None:
    return None


def _unless_store_fails(step: Callable[[], None]) -> StateError | None:
    try:
        step()
    except StateError as exc:
        return exc
    return None


def _interrupted(report: RunReport, signals: RunSignals) -> ExitCode:
    """A run stopped by Ctrl-C or a signal: recorded `interrupted`, exit 130 (SIGINT) or 143 (SIGTERM)."""
    report.error = signals.reason
    report.forced_status = "interrupted"
    return signals.exit_code


def _record_error(report: RunReport, exc: SegmarketoError) -> None:
    report.error = redact(exc.message + (f" ({exc.hint})" if exc.hint else ""))
    report.forced_status = EXIT_STATUS.get(exc.exit_code, "failed")
