"""backfill-leads as change-log entries: a planned person's changes (--plan-out) and the write Marketo confirmed
(the run's change log), built the same way so a dry run's plan rows equal the real run's log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from segmarketo_cli.jobs.backfill_leads.plan import Candidate, Reject
from segmarketo_cli.state.change_log import UNKNOWN, Change

# An upsert: a lead neither read from Marketo nor known to the state store, written without knowing which it was.
NEW_TO_STATE = "created or updated: new to this instance's state (--before-values marketo reads Marketo first)"


def written(candidate: Candidate, action: str | None = None, lead_id: int | None = None) -> Change:
    """The write of `candidate`: `action` as Marketo reported it (Sync Leads), else as the plan settled the lead
    (the plan, Bulk Import: create or update as read from Marketo or known to the state store, else upsert with
    the reason NEW_TO_STATE), each written field with its before-value."""
    reason = ""
    if action is None:
        action = candidate.action
        reason = NEW_TO_STATE if action == "upsert" else ""
    fields = {name: (_before(candidate, action, name), value) for name, value in candidate.fields.items()}
    return Change(action, candidate.key, lead_id if lead_id is not None else candidate.lead_id, fields=fields,
                  reason=reason, origin=candidate.origin)


def _before(candidate: Candidate, action: str, name: str) -> Any:
    if action == "create":
        return None  # there was no lead
    if action == "upsert" or candidate.exists is False:
        # not known which; or the look-up found no lead, yet Marketo updated one: created by someone in the meantime
        return UNKNOWN
    return (candidate.before or {}).get(name, UNKNOWN)


def skipped(candidate: Candidate) -> Iterator[Change]:
    """The fields field ownership kept from being written: skip-owned, skip-fill-only, skip-older, one change
    each with Marketo's value as before and the input's as after."""
    for kind, name, before, after in candidate.skipped:
        yield Change(kind, candidate.key, candidate.lead_id, fields={name: (before, after)}, origin=candidate.origin)


def person_changes(action: str, planned: Candidate | Reject) -> Iterator[Change]:
    """One planned person's changes: `action` is the plan's (upsert, unchanged or reject)."""
    if isinstance(planned, Reject):
        yield Change("reject", planned.key or "", reason=planned.reason, origin=planned.origin or "")
        return
    if action == "upsert":
        yield written(planned)
    else:
        yield Change("unchanged", planned.key, planned.lead_id, origin=planned.origin)
    yield from skipped(planned)

