"""A recorded run named by its id, a unique prefix of it, `last` or `last:COMMAND` (`runs show`, `runs undo`)."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import UNDO_COMMAND


def find_run(store: StateStore, text: str, profile: str, *,
             error: type[SegmarketoError] = SegmarketoError, undoable: bool = False) -> dict[str, Any]:
    """The run whose id is `text` or starts with it, or `last` (the newest run) / `last:COMMAND` (the newest run of
    that command, e.g. `last:sync-audience`); `error` (one line) when none or several match. With `undoable`
    (`runs undo`), `last` skips dry runs and undos (unless COMMAND names `runs undo`), so running `runs undo last`
    again after an interrupted undo finishes the same run instead of undoing the undo."""
    run_id = text.strip()
    if run_id == LAST or run_id.startswith(LAST + ":"):
        return _last_run(store, run_id.partition(":")[2].strip() or None, profile, error, undoable=undoable)
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


def _last_run(store: StateStore, command: str | None, profile: str, error: type[SegmarketoError], *,
              undoable: bool) -> dict[str, Any]:
    newest = store.list_runs(1 if not undoable else _LOOK_BACK, command=command)
    if undoable:
        newest = [run for run in newest if not (run.get("report") or {}).get("dry_run")
                  and (command == UNDO_COMMAND or run["command"] != UNDO_COMMAND)]
    if not newest:
        of = f" of '{command}'" if command else ""
        what = "run that wrote" if undoable else "run"
        raise error(f"no {what}{of} in profile '{profile}' (see 'segmarketo runs list')")
    return newest[0]


_LOOK_BACK = 1_000  # runs `runs undo last` looks through for the newest one that was neither a dry run nor an undo
