"""sync-audience report: outcome buckets, the balances they must satisfy, and the run's notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.sync_audience.audience_table import load_audience
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan
from segmarketo_cli.sources.audience.readers import AudienceInput

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.sync_audience.session import SyncSession

NOT_IN_MARKETO = "not in Marketo"  # why an unresolved person is in the rejects file and the plan

PLAN_BUCKETS = ("resolved", "created", "unresolved", "create_failed", "exited", "duplicate_emails",
                "current_members", "audience_leads", "added", "removed", "unchanged", "kept",
                "not_found", "already_absent", "add_failed", "remove_failed")


def account_input(report: RunReport, rejects: RejectsWriter, audience: AudienceInput,
                  con: duckdb.DuckDBPyConnection) -> None:
    """Load the audience into the engine, its rejects into the rejects file. Rows read: every row is a person,
    a repeat, ignored (another audience, not an audience event) or rejected."""
    report.ensure("audience_rows", "ignored", "repeated", "rejected")
    load_audience(con, audience, rejects)
    report.add("audience_rows", audience.rows)
    report.add("ignored", audience.ignored)
    report.add("repeated", audience.repeated)
    report.add("rejected", audience.rejected)
    report.add("people", audience.people)
    report.details["input"] = {"file": audience.path, "shape": audience.shape, "kind": audience.kind,
                               "audience": audience.audience}
    report.expect_balance("audience_rows", "people", "repeated", "ignored", "rejected")


def account_plan(report: RunReport, rejects: RejectsWriter, plan: ListMembershipPlan, *, dry_run: bool) -> None:
    """Plan-time counts, and each unresolved person in the rejects file (reason "not in Marketo", with the
    origin of their row); a dry run also counts what it would create, add and remove."""
    report.ensure(*PLAN_BUCKETS)
    report.add("resolved", plan.resolved)
    report.add("exited", plan.exited)
    report.add("duplicate_emails", plan.duplicate_emails)
    report.add("current_members", plan.current)
    report.add("audience_leads", plan.audience_leads)
    report.add("unchanged", plan.unchanged)
    report.add("kept", plan.kept)
    report.add("unresolved", plan.unresolved)
    for person in plan.unresolved_people():
        rejects.write(NOT_IN_MARKETO, origin=person.origin, field=person.key.kind, value=person.key.value)
    if dry_run:
        report.add("created", plan.to_create)
        report.add("added", len(plan.adds))
        report.add("removed", len(plan.removes))
    report.details["plan"] = plan.summary()


def finish(session: SyncSession, plan: ListMembershipPlan) -> None:
    """Balances over people and lead ids, notes, and --strict."""
    report, opts, list_id = session.report, session.options, session.list_id
    report.expect_balance("people", "resolved", "created", "unresolved", "create_failed", "exited")
    report.expect_balance("current_members", "removed", "already_absent", "remove_failed", "unchanged", "kept")
    report.expect_balance("audience_leads", "added", "unchanged", "not_found", "add_failed")
    report.details["list"] = {"id": list_id, "name": session.list_label}
    if plan.unresolved:
        hint = "" if opts.create_missing else " (--create-missing creates them)"
        count = plan.unresolved
        report.notes.append(f"{count:,} {'person is' if count == 1 else 'people are'} not in Marketo{hint}")
        if opts.strict and report.status == "ok":
            report.forced_status = "partial"
    if not session.profile.user_id_field and plan.unresolved_by_user_id():
        report.notes.append("people known only by userId cannot be matched: set user_id_field (the Marketo "
                            "field holding Segment userIds) in the profile or SEGMARKETO_USER_ID_FIELD")
    if plan.duplicate_emails:
        report.notes.append(f"{plan.duplicate_emails:,} e-mails match several leads; all of them count as members")
    if not plan.changes and list_id is not None:
        report.notes.append("the list already matches the audience: nothing to write")
