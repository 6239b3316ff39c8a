"""A recorded run named by its id, a unique prefix of it, `last` or `last:COMMAND` (`runs show`, `runs undo`)."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.state import StateStore


def find_run(store: StateStore, text: str, profile: str, *,
             error: type[SegmarketoError] = SegmarketoError) -> dict[str, Any]:
    """The run whose id is `text` or starts with it, or `last` (the newest run) / `last:COMMAND` (the newest run of
    that command, e.g. `last:sync-audience`); `error` (one line) when none or several match."""
    run_id = text.strip()
    if run_id == LAST or run_id.startswith(LAST + ":"):
        return _last_run(store, run_id.partition(":")[2].strip() or None, profile, error)
    matches = store.find_runs(run_id, limit=6) if run_id else []
    exact = [run for run in matches if run["run_id"] == run_id]
    if exact:
        matches = exact
    if not matches:
        raise error(f"no run '{run_id}' in profile '{profile}' (see 'segmarketo runs list')")
    if len(matches) > 1:
        ids = ", ".join(run["run_id"] for run in matches[:5])
        raise error(f"run id '{run_id}' is ambiguous: it starts {ids}{', …' if len(matches) > 5 else ''}")
    return matches[0]


LAST = "last"


def _last_run(store: StateStore, command: str | None, profile: str,
              error: type[SegmarketoError]) -> dict[str, Any]:
    newest = store.list_runs(1, command=command)
    if not newest:
        of = f" of '{command}'" if command else ""
        raise error(f"no run{of} in profile '{profile}' (see 'segmarketo runs list')")
    return newest[0]
