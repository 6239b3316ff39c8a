"""sync-audience's `run` in-process, on a given client (scripted, or built for the sandbox)."""

from __future__ import annotations

from segmarketo_cli.config import Settings
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.jobs.sync_audience.prepare import AudienceProfile, PreparedSync, SyncOptions
from segmarketo_cli.jobs.sync_audience.run import run
from segmarketo_cli.sources.audience.readers import AudienceInput
from segmarketo_cli.state import StateStore


def run_sync(client, store: StateStore, rejects: RejectsWriter, audience: AudienceInput, *, mode: str = "mirror",
             sleep=lambda seconds: None, **flags) -> RunReport:
    """One run of `audience` onto the list the flags name (SyncOptions keywords), with the default profile."""
    options = SyncOptions(file=audience.path, **flags)
    ctx = JobContext(services=Services(Settings(), store, _marketo=client), report=RunReport("sync-audience"),
                     rejects=rejects, sleep=sleep)
    return run(ctx, PreparedSync(AudienceProfile(), options, audience, mode))
