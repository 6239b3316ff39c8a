"""One `segmarketo listen` flush: spooled events -> private NDJSON files -> the existing jobs, each a recorded run."""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmarketo_cli import __version__, paths
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.jobrun import RunFrame, run_recorded
from segmarketo_cli.errors import ExitCode
from segmarketo_cli.jobs.apply_events.prepare import ApplyOptions, ApplyProfile, PreparedApply
from segmarketo_cli.jobs.apply_events.prepare import prepare_profile as apply_profile
from segmarketo_cli.jobs.apply_events.run import run as apply_run
from segmarketo_cli.jobs.backfill_leads.prepare import BackfillOptions
from segmarketo_cli.jobs.backfill_leads.prepare import prepare as backfill_prepare
from segmarketo_cli.jobs.backfill_leads.run import run as backfill_run
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.jobs.sync_audience.prepare import SyncOptions
from segmarketo_cli.jobs.sync_audience.prepare import prepare as sync_prepare
from segmarketo_cli.jobs.sync_audience.run import run as sync_run
from segmarketo_cli.listen.drain import FlushResult
from segmarketo_cli.listen.metrics import Metrics
from segmarketo_cli.listen.spool import Spooled
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.sources import preflight

log = logging.getLogger("segmarketo.listen")
SETTLED = (ExitCode.OK, ExitCode.PARTIAL)  # applied, or rejected into the rejects file: done either way


@dataclass
class FlushJobs:
    """Runs the jobs of one flush: identifies through backfill-leads, Audience Entered/Exited through
    sync-audience's delta mode (one run per audience the profile's [listen.audiences] maps to a list), tracks
    through apply-events' rules (when the profile has [[rules]]). A job that does not settle (TEMPFAIL, error)
    keeps its events and those of every later step spooled, so identifies always land before the events about
    the same people."""

    app: AppContext
    metrics: Metrics
    folder: Path
    say: Callable[[str], None]
    _apply_profile: ApplyProfile | None = field(default=None, init=False)
    _limiter: Limiter | None = field(default=None, init=False)  # the last flush's Marketo window

    def __call__(self, batch_id: str, batch: list[Spooled]) -> FlushResult:
        settings = self.app.settings
        result = FlushResult()
        identifies = [event for event in batch if event.kind == "identify"]
        by_audience: dict[str, list[Spooled]] = defaultdict(list)
        tracks = [event for event in batch if event.kind == "track"]
        for event in batch:
            if event.kind == "audience":
                by_audience[_audience_key(event.body)].append(event)
        audiences = settings.sections.listen.audiences
        steps: list[tuple[list[Spooled], Callable[[Path], Callable[[JobContext], object]] | None, str]] = []
        steps.append((identifies, self._backfill, "backfill-leads"))
        for key, events in sorted(by_audience.items()):
            list_name = audiences.get(key)
            steps.append((events, functools.partial(self._sync, key, list_name) if list_name else None,
                          "sync-audience"))
        steps.append((tracks, self._apply if settings.sections.rules is not None else None, "apply-events"))
        for events, job, command in steps:
            if not events:
                continue
            if job is None:  # nothing to apply them to: accounted as ignored, and done
                self.metrics.ignore(len(events))
                log.info("listen flush %s: %d %s event(s) ignored (no %s configured)", batch_id, len(events),
                         events[0].kind, "list mapping" if command == "sync-audience" else "rules")
                result.done += [event.seq for event in events]
                continue
            if not self._run(batch_id, command, events, job):
                result.retry = True
                break
            result.done += [event.seq for event in events]
        return result

    def _run(self, batch_id: str, command: str, events: list[Spooled],
             job: Callable[[Path], Callable[[JobContext], object]]) -> bool:
        """Write `events` to a private NDJSON file and run `command` on it; True when the run settled them."""
        path = self.folder / f"{batch_id}-{command}-{events[0].seq}.jsonl"
        with paths.open_private(path, "listen flush file") as out:
            for event in events:
                out.write(event.body + "\n")
        try:
            body = job(path)
            services = Services(self.app.settings, self.app.store, previous_limiter=self._limiter)
            frame = RunFrame(command, services=services, say=self.say, context={
                "arguments": ["listen", "--flush", batch_id], "inputs": [str(path)],
                "profile": self.app.settings.profile, "version": __version__, "note": f"listen flush {batch_id}"})
            outcome = run_recorded(self.app, frame, body)
        finally:
            path.unlink(missing_ok=True)
        self._limiter = services.limiter or self._limiter  # the next flush starts inside this one's window
        report = outcome.report
        self.metrics.flushed(report.status, calls=int(report.api_calls.get("marketo", 0)), rejected=report.rejected)
        log.log(logging.INFO if outcome.exit_code in SETTLED else logging.WARNING,
                "listen flush %s: %s run %s %s (exit %d, %d event(s))%s", batch_id, command, report.run_id,
                report.status, outcome.exit_code, len(events), f": {report.error}" if report.error else "",
                 extra={"data": {"event": "flush_run", "batch_id": batch_id, "command": command,
                                 "run_id": report.run_id, "status": report.status, "exit_code": outcome.exit_code}})
        if outcome.store_error is not None:
            return False
        return outcome.exit_code in SETTLED

    def _backfill(self, path: Path) -> Callable[[JobContext], object]:
        prepared = backfill_prepare(self.app.settings, BackfillOptions(files=(str(path),), input_format="jsonl"),
                                    self.app.services())
        return functools.partial(backfill_run, prepared=prepared)

    def _sync(self, audience_key: str, list_name: str, path: Path) -> Callable[[JobContext], object]:
        options = SyncOptions(file=str(path), list_name=list_name, mode="delta", audience_key=audience_key,
                              create_missing=True)
        prepared = sync_prepare(self.app.settings, options, self.app.services())
        return functools.partial(sync_run, prepared=prepared)

    def _apply(self, path: Path) -> Callable[[JobContext], object]:
        if self._apply_profile is None:  # the rules resolved against Marketo once per process
            self._apply_profile = apply_profile(self.app.settings, self.app.services())
        options = ApplyOptions(files=(str(path),), input_format="jsonl")
        prepared = PreparedApply(self._apply_profile, preflight([str(path)], "jsonl"), options)
        return functools.partial(apply_run, prepared=prepared)


def _audience_key(body: str) -> str:
    """The Engage audience an Audience Entered/Exited event is about: properties.audience_key, else the
    computation key of context.personas."""
    event: dict[str, Any] = json.loads(body)
    key = (event.get("properties") or {}).get("audience_key")
    if not key:
        key = ((event.get("context") or {}).get("personas") or {}).get("computation_key")
    return str(key or "")
