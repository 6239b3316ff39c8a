"""`runs undo` orchestration: the run's change log a group of leads at a time (LEADS_PER_GROUP), each group's
current values read, planned, then written or shown; the --plan-out file streamed group by group."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.undo.current import lead_values, list_membership
from segmarketo_cli.jobs.undo.execute import UndoWriter
from segmarketo_cli.jobs.undo.plan import CREATED_LIST, UndoItem, UndoPlan, plan_undo, reads_needed
from segmarketo_cli.jobs.undo.prepare import PreparedUndo

# The report's buckets, one item each (a field of an update or score, or one other change); they add up to
# `changes`. A dry run counts what it would restore and delete; `deferred`: writes not made because the undo stopped.
BUCKETS = ("restored", "deleted", "unchanged", "already_undone", "conflicts", "before_unknown", "created_kept",
           "not_reversible", "rejected", "deferred")
_LISTED = {"unchanged": "unchanged", "already_undone": "already_undone", "conflict": "conflicts",
           "before_unknown": "before_unknown", "created_kept": "created_kept", "not_reversible": "not_reversible"}
LEADS_PER_GROUP = 300  # leads planned and written together: one Get Leads read, Sync Leads rows of one call
SAMPLE_ROWS = 20  # plan rows the dry run keeps for the terminal


@dataclass
class UndoSummary:
    """What the dry run shows: the first rows of the plan and how many items it has."""

    rows: list[dict[str, str]] = field(default_factory=list)
    items: int = 0


def run(ctx: JobContext, prepared: PreparedUndo) -> RunReport:
    report = ctx.report
    report.rejected_buckets = ("rejected", "conflicts")  # partial (exit 3) when either is not empty
    report.expect_balance("changes", *BUCKETS)
    report.details["undoes"] = {"run_id": prepared.run_id, "command": prepared.command}
    outcomes: Counter[str] = Counter()
    summary = UndoSummary()
    rows = plan_rows(item.change() for item in _items(ctx, prepared, outcomes))
    if prepared.options.plan_out is not None:
        write_plan_file(prepared.options.plan_out, PLAN_COLUMNS, _sampled(rows, summary))
    else:
        for _ in _sampled(rows, summary):
            pass
    if prepared.options.dry_run:
        report.add("restored", outcomes["restore"])
        report.add("deleted", outcomes["delete"])
        ctx.show_plan(summary)
    _notes(report, outcomes)
    return report


def _items(ctx: JobContext, prepared: PreparedUndo, outcomes: Counter[str]) -> Iterator[UndoItem]:
    """Every item of the undo, group after group: each group planned against what Marketo holds now and (in a
    real run) written before the next is read, so what an earlier group restored is logged first."""
    log, client, options = ctx.store.change_log, ctx.marketo(), prepared.options
    for changes in log.lead_groups(prepared.run_id, leads=LEADS_PER_GROUP):
        lead_ids = sorted({change.change.lead_id for change in changes if change.change.lead_id is not None})
        reversed_ = log.reversed_by_undo(prepared.instance, prepared.run_id, lead_ids) if lead_ids else {}
        reads = reads_needed(changes, reversed_, prepared.command)
        plan = plan_undo(changes, values=lead_values(client, reads), membership=list_membership(client, reads),
                         reversed_=reversed_, delete_created=options.delete_created, command=prepared.command)
        ctx.report.add("changes", len(plan.items))
        _count_listed(ctx, plan)
        outcomes.update(item.outcome for item in plan.items)
        outcomes["created_list"] += sum(1 for item in plan.items if item.reason == CREATED_LIST)
        if not options.dry_run:
            UndoWriter(ctx, client, plan).run()
        yield from plan.items


def _sampled(rows: Iterator[dict[str, str]], summary: UndoSummary) -> Iterator[dict[str, str]]:
    """`rows` passed on, counted, the first SAMPLE_ROWS kept for the terminal."""
    for row in rows:
        if len(summary.rows) < SAMPLE_ROWS:
            summary.rows.append(row)
        summary.items += 1
        yield row


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


def _notes(report: RunReport, outcomes: Counter[str]) -> None:
    lists = outcomes["created_list"]
    kept = outcomes["created_kept"] - lists
    if kept:
        report.notes.append(f"{kept:,} lead(s) the run created were kept: deleting a lead loses its activity "
                            "history; --delete-created deletes them")
    if lists:
        report.notes.append(f"{lists:,} static list(s) the run created were kept (emptied of what the run added): "
                            "delete them in Marketo if they are not wanted")
    if outcomes["already_undone"]:
        report.notes.append(f"{outcomes['already_undone']:,} change(s) were undone by an earlier undo and skipped")
    if outcomes["conflict"]:
        report.notes.append(f"{outcomes['conflict']:,} change(s) were changed again since the run and left alone "
                            "(conflicts, in the rejects file with Marketo's current value)")
