"""writeback's events as --plan-out and the change log hold them (action `event`), and the plan file written
from events that arrive a batch at a time (docs/writeback.md "--plan-out and the change log")."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.state.change_log import Change


def event_change(message: dict[str, Any]) -> Change:
    """A track event as a change: key its messageId, target the event name, after the userId (or anonymousId)
    it goes to, reason the Marketo activity type, origin the activity."""
    props = message.get("properties") or {}
    to = message.get("userId") or message.get("anonymousId")
    return Change("event", key=str(message["messageId"]), lead_id=props.get("marketo_lead_id"),
                  target=str(message.get("event") or ""), fields={"": (None, to)},
                  reason=str(props.get("marketo_activity_type") or ""),
                  origin=f"marketo activity {props.get('marketo_activity_id')}")


class PlanFileWriter:
    """--plan-out for events settled a batch at a time: their rows wait in a private temporary file (0600,
    already unlinked), so memory does not grow with the window; `close` writes them in the format the path's
    extension names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def add(self, messages: Iterable[dict[str, Any]]) -> None:
        """The rows of `messages` (settled events)."""
        for row in plan_rows(event_change(m) for m in messages):
            self._spool.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> int:
        """Write the plan file; the number of rows."""
        with self._spool:
            self._spool.seek(0)
            self.rows = write_plan_file(self.path, PLAN_COLUMNS, (json.loads(line) for line in self._spool))
        return self.rows
