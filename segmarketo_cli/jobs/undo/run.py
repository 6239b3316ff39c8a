"""`runs undo` orchestration: read the run's change log and what Marketo holds now, plan, then write or show."""

from __future__ import annotations

from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.undo.current import lead_values, list_membership
from segmarketo_cli.jobs.undo.execute import UndoWriter
from segmarketo_cli.jobs.undo.plan import CREATED_LIST, UndoPlan, plan_undo, reads_needed
from segmarketo_cli.jobs.undo.prepare import PreparedUndo

# The report's buckets, one item each (a field of an update or score, or one other change); they add up to
# `changes`. A dry run counts what it would restore and delete.
BUCKETS = ("restored", "deleted", "unchanged", "already_undone", "conflicts", "before_unknown", "created_kept",
           "not_reversible", "rejected")
_LISTED = {"unchanged": "unchanged", "already_undone": "already_undone", "conflict": "conflicts",
           "before_unknown": "before_unknown", "created_kept": "created_kept", "not_reversible": "not_reversible"}


def run(ctx: JobContext, prepared: PreparedUndo) -> RunReport:
    report = ctx.report
    report.rejected_buckets = ("rejected", "conflicts")  # partial (exit 3) when either is not empty
    report.expect_balance("changes", *BUCKETS)
    report.details["undoes"] = {"run_id": prepared.run_id, "command": prepared.command}
    log = ctx.store.change_log
    changes = list(log.changes(prepared.run_id))
    reversed_ = log.reversed_by_undo(prepared.instance, prepared.run_id)
    client = ctx.marketo()
    reads = reads_needed(changes, reversed_, prepared.command)
    plan = plan_undo(changes, values=lead_values(client, reads), membership=list_membership(client, reads),
                     reversed_=reversed_, delete_created=prepared.options.delete_created, command=prepared.command)
    report.add("changes", len(plan.items))
    _count_listed(ctx, plan)
    options = prepared.options
    if options.plan_out is not None:
        write_plan_file(options.plan_out, PLAN_COLUMNS, plan_rows(item.change() for item in plan.items))
    if options.dry_run:
        planned = plan.counts()
        report.add("restored", planned.get("restore", 0))
        report.add("deleted", planned.get("delete", 0))
        ctx.show_plan(plan)
    else:
        UndoWriter(ctx, client, plan).run()
    _notes(report, plan)
    return report


def _count_listed(ctx: JobContext, plan: UndoPlan) -> None:
    """The items the undo only lists; conflicts also go to the rejects file with Marketo's current value."""
    for item in plan.items:
        bucket = _LISTED.get(item.outcome)
        if bucket is None:
            continue
        ctx.report.add(bucket)
        if item.outcome == "conflict":
            ctx.rejects.write(f"conflict: {item.reason}", lead_id=item.lead_id, field=item.field or None,
                              current=item.current, target=item.logged.change.target or None, origin=item.origin)


def _notes(report: RunReport, plan: UndoPlan) -> None:
    counts = plan.counts()
    lists = sum(1 for item in plan.items if item.outcome == "created_kept" and item.reason == CREATED_LIST)
    kept = counts.get("created_kept", 0) - lists
    if kept:
        report.notes.append(f"{kept:,} lead(s) the run created were kept: deleting a lead loses its activity "
                            "history; --delete-created deletes them")
    if lists:
        report.notes.append(f"{lists:,} static list(s) the run created were kept (emptied of what the run added): "
                            "delete them in Marketo if they are not wanted")
    if counts.get("already_undone"):
        report.notes.append(f"{counts['already_undone']:,} change(s) were undone by an earlier undo and skipped")
    if counts.get("conflict"):
        report.notes.append(f"{counts['conflict']:,} change(s) were changed again since the run and left alone "
                            "(conflicts, in the rejects file with Marketo's current value)")
