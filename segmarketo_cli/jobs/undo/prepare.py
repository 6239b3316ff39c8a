"""`runs undo` options and the checks before the lock: the run exists, has finished, logged changes, and wrote to
this profile's Marketo instance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segmarketo_cli.config import Settings
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.plan_file import check_plan_out
from segmarketo_cli.jobs.run_lookup import find_run
from segmarketo_cli.jobs.services import Services


@dataclass(frozen=True)
class UndoOptions:
    run_id: str
    delete_created: bool = False
    plan_out: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class PreparedUndo:
    options: UndoOptions
    run_id: str  # the full id of the run undone
    command: str  # that run's command
    instance: str  # the Marketo instance it wrote to (this profile's)


def prepare(settings: Settings, options: UndoOptions, services: Services) -> PreparedUndo:
    """Every refusal is one line and exit 2: an unknown or ambiguous id, a run still running, a run without a
    change log (a dry run, pruned, or it wrote nothing), a run of another Marketo instance."""
    if options.plan_out is not None:
        check_plan_out(options.plan_out)
    endpoint, _client_id = settings.require_marketo()
    instance = normalize_endpoint(endpoint, what="Marketo endpoint")
    store = services.store
    run = find_run(store, options.run_id, settings.profile, error=ConfigError, undoable=True)
    run_id = str(run["run_id"])
    if run["status"] == "running":
        raise ConfigError(f"run {run_id} is still running: undo it once it has finished")
    first = next(store.change_log.changes(run_id), None)
    if first is None:
        report = run.get("report") or {}
        why = "it was a dry run and wrote nothing" if report.get("dry_run") else \
            "it recorded no changes (it wrote nothing, or its change log was pruned)"
        raise ConfigError(f"nothing to undo in run {run_id}: {why}")
    if first.instance != instance:
        raise ConfigError(f"run {run_id} wrote to Marketo instance {first.instance}, not to this profile's "
                          f"{instance}: undo it with a profile of that instance")
    return PreparedUndo(options, run_id, str(run["command"]), instance)
