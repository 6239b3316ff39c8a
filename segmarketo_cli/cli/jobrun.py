"""The frame every job command runs in: lock, run record, report, rejects file, exit code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from tqdm import tqdm

from segmarketo_cli import paths
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.render import render_report
from segmarketo_cli.config import Settings, normalize_endpoint
from segmarketo_cli.errors import ExitCode, SegmarketoError, StateError
from segmarketo_cli.http import redact
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import build_marketo, build_segment
from segmarketo_cli.state import InstanceLock, ProfileLock, StateStore

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.segment.sender import BatchSender

log = logging.getLogger("segmarketo.job")

EXIT_STATUS = {ExitCode.TEMPFAIL: "deferred", ExitCode.REFUSED: "refused", ExitCode.INTERRUPTED: "interrupted"}


@dataclass
class JobEnv:
    """Everything a job body needs; clients are built on first use so dry runs need no secrets."""

    app: AppContext
    settings: Settings
    store: StateStore
    report: RunReport
    rejects: RejectsWriter
    _marketo: MarketoClient | None = None
    _segment: BatchSender | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def marketo(self) -> MarketoClient:
        if self._marketo is None:
            self._marketo = build_marketo(self.settings, store=self.store)
        return self._marketo

    def segment(self) -> BatchSender:
        if self._segment is None:
            self._segment = build_segment(self.settings)
        return self._segment

    def progress(self, total: int | None, desc: str, unit: str = "rec") -> tqdm:
        """A tqdm bar on stderr, switched off when stderr is not a terminal."""
        return tqdm(total=total, desc=desc, unit=unit, disable=not self.app.stderr_is_tty, leave=False)

    def count_calls(self) -> None:
        if self._marketo is not None:
            self.report.api_calls["marketo"] = self._marketo.calls
        if self._segment is not None:
            self.report.api_calls["segment"] = self._segment.requests

    def record_usage(self) -> None:
        """Add this run's Marketo calls to today's total in the state store (the daily budget spans runs)."""
        if self._marketo is not None:
            self.store.add_api_calls(self._marketo.instance, self._marketo.limiter.usage)


def run_job(
    app: AppContext,
    command: str,
    body: Callable[[JobEnv], None],
    *,
    dry_run: bool = False,
    as_json: bool = False,
    rejects_path: str | None = None,
    marketo: MarketoClient | None = None,
    writes_marketo: bool = True,
) -> NoReturn:
    """Run `body` under the profile lock (and the instance lock when it writes to Marketo) and exit with the
    report's code; `marketo`: a client built earlier."""
    settings = app.settings
    ctx = click.get_current_context()
    if rejects_path:
        paths.check_writable(Path(rejects_path), "--rejects")  # not only when the first reject comes, mid-run
    with ExitStack() as locks:
        locks.enter_context(ProfileLock(paths.state_dir(), settings.profile))
        store = app.store
        if settings.marketo_endpoint:
            # "Once" belongs to the Marketo instance: one job writing to it at a time, on the one ledger that
            # the registry says is the instance's (a second home is refused here, before the run is recorded).
            instance = normalize_endpoint(settings.marketo_endpoint, what="Marketo endpoint")
            if writes_marketo and not dry_run:
                locks.enter_context(InstanceLock(store.ledger_path(instance), instance, settings.profile))
            store.ledger(instance)
        report = RunReport(command=command, dry_run=dry_run)
        default_rejects = paths.state_dir() / "rejects" / f"{command}-{report.run_id}.jsonl"
        rejects = RejectsWriter(Path(rejects_path), "--rejects") if rejects_path else RejectsWriter(default_rejects)
        env = JobEnv(app=app, settings=settings, store=store, report=report, rejects=rejects, _marketo=marketo)
        store.start_run(report.run_id, command, report.started_at)
        exit_code: int | None = None
        try:
            body(env)
        except SegmarketoError as exc:
            exit_code = exc.exit_code
            _record_error(report, exc)
        except KeyboardInterrupt:
            exit_code = ExitCode.INTERRUPTED
            report.error = "interrupted"
            report.forced_status = "interrupted"
        except Exception as exc:
            # A bug, not a user's mistake: record the run as failed (never "ok"), then let it surface.
            report.error = f"internal error: {type(exc).__name__}"
            report.forced_status = "failed"
            raise
        finally:
            try:
                rejects.close()
            except SegmarketoError as exc:  # the last rejects could not be written (disk full)
                if exit_code is None:
                    exit_code = exc.exit_code
                    _record_error(report, exc)
            env.count_calls()
            # A store deleted or broken mid-run must not hide the run's own outcome: render it, then say so.
            store_error = _unless_store_fails(env.record_usage)
            report.rejects_file = rejects.written
            report.finish()
            data = report.to_dict()
            store_error = _unless_store_fails(
                lambda: store.finish_run(report.run_id, report.status, data, rejected=report.rejected)) or store_error
            log.info(
                "%s finished: %s", command, report.status,
                extra={"data": {"event": "summary", **data}},
            )
        render_report(report, as_json=as_json)
        if store_error is not None:
            raise store_error
        ctx.exit(exit_code if exit_code is not None else report.exit_code)


def _unless_store_fails(step: Callable[[], None]) -> StateError | None:
    try:
        step()
    except StateError as exc:
        return exc
    return None


def _record_error(report: RunReport, exc: SegmarketoError) -> None:
    report.error = redact(exc.message + (f" ({exc.hint})" if exc.hint else ""))
    report.forced_status = EXIT_STATUS.get(exc.exit_code, "failed")
