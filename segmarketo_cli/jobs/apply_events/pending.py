"""Settle apply-events writes an interrupted run sent but never recorded: scores by reading Marketo, campaigns once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.apply_events.rules import as_number
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state import StateStore

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

DETAILS_MAX = 1000  # uncertain campaign requests listed in the report's details


@dataclass
class Recovery:
    """What reconciling the pending rows found."""

    score_written: int = 0
    score_not_written: int = 0
    uncertain: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0


def reconcile(client: MarketoClient, store: StateStore, instance: str) -> Recovery:
    """Resolve every pending row of the instance before a run plans anything.

    A score write is absolute, so Marketo can tell whether it happened: the lead's field holds the recorded new
    value (written: its events are marked processed) or not (not written: the row is dropped and the events apply
    normally). A campaign request leaves no trace to check, so a pending one counts as "may have been triggered"
    and is marked processed: at most once beats a second e-mail to the same person.
    """
    rows = store.pending(instance)
    out = Recovery()
    if not rows:
        return out
    scores = [r for r in rows if r["kind"] == "score"]
    done = [r for r in rows if r["kind"] != "score"]
    dropped = []
    if scores:
        leads = sorted({r["lead_id"] for r in scores})
        fields = sorted({r["field"] for r in scores})
        before = client.calls
        current = {int(row["id"]): row for row in client.get_leads_by_filter("id", leads, ["id", *fields])
                   if row.get("id") is not None}
        out.calls = client.calls - before
        for row in scores:
            now = as_number(current.get(row["lead_id"], {}).get(row["field"]))
            if now is not None and now == as_number(row["value"]):
                done.append(row)
                out.score_written += 1
            else:
                dropped.append(row)
                out.score_not_written += 1
    for row in done:
        if row["kind"] != "score":
            out.uncertain.append({"rule": row["scope"], "messageId": row["message_id"], "leadId": row["lead_id"],
                                  "campaignId": row["value"]})
    by_scope: dict[str, list[str]] = {}
    for row in done:
        by_scope.setdefault(row["scope"], []).append(row["message_id"])
    for scope, ids in by_scope.items():
        store.mark_processed(instance, scope, ids)  # clears their pending rows in the same transaction
    if dropped:
        store.clear_pending(instance, [(r["scope"], r["message_id"]) for r in dropped])
    return out


def report_recovery(recovery: Recovery, report: RunReport) -> None:
    """Notes, details and the `uncertain` bucket for what `reconcile` found."""
    report.add("uncertain", len(recovery.uncertain))
    if recovery.score_written:
        report.notes.append(f"{recovery.score_written} score write(s) of an interrupted run were found in Marketo "
                            "and recorded as applied")
    if recovery.score_not_written:
        report.notes.append(f"{recovery.score_not_written} score write(s) of an interrupted run never reached "
                            "Marketo; their events are applied normally")
    if recovery.uncertain:
        report.notes.append(f"{len(recovery.uncertain)} campaign request(s) of an interrupted run may or may not "
                            "have been triggered; they are not requested again (at most once), see "
                            "details.uncertain")
    if recovery.score_written or recovery.score_not_written or recovery.uncertain:
        report.details["recovered"] = {"score_written": recovery.score_written,
                                       "score_not_written": recovery.score_not_written,
                                       "campaigns_uncertain": len(recovery.uncertain)}
        if recovery.uncertain:
            report.details["uncertain"] = recovery.uncertain[:DETAILS_MAX]
