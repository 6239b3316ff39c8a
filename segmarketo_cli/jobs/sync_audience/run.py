"""sync-audience job: find the list, read members, resolve people, plan, guard, then write the diff."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

from segmarketo_cli.jobs.bulk_import.reports import check_row_field
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.sync_audience.buckets import account_input, account_plan, finish
from segmarketo_cli.jobs.sync_audience.changes import list_created
from segmarketo_cli.jobs.sync_audience.execute_create import create_people, uses_bulk_import
from segmarketo_cli.jobs.sync_audience.execute_list import add_members, create_list, remove_members
from segmarketo_cli.jobs.sync_audience.locate import find_list
from segmarketo_cli.jobs.sync_audience.members import MemberIds, load_members, read_members
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, Member, check_safety, plan_membership
from segmarketo_cli.jobs.sync_audience.plan_out import write_plan
from segmarketo_cli.jobs.sync_audience.prepare import PreparedSync
from segmarketo_cli.jobs.sync_audience.resolve import resolve
from segmarketo_cli.jobs.sync_audience.session import SyncSession
from segmarketo_cli.mapping.mapper import load_catalog
from segmarketo_cli.state.change_log import Change

REJECTED_BUCKETS = ("rejected", "create_failed", "add_failed", "remove_failed")


@dataclass(frozen=True)
class DryRunPlan:
    """What a dry run shows: the plan, and the list it is for as Marketo names it."""

    plan: ListMembershipPlan
    list_label: str
    list_id: int | None = None
    list_to_create: Change | None = None


def run(ctx: JobContext, prepared: PreparedSync) -> RunReport:
    """The whole job; writes only after the mirror-mode guard. A dry run hands its DryRunPlan to `ctx.show_plan`."""
    options, audience = prepared.options, prepared.audience
    session = SyncSession(ctx.marketo(), ctx.store, ctx.report, ctx.rejects, options, prepared.profile,
                          prepared.mode, progress=ctx.progress, sleep=ctx.sleep,
                          list_label=options.list_name or f"id {options.list_id}", changes=ctx.changes)
    report = ctx.report
    report.rejected_buckets = REJECTED_BUCKETS
    con = ctx.engine().con
    account_input(report, ctx.rejects, audience, con)
    if prepared.mode == "mirror" and not audience.people and not options.force:
        check_safety(ListMembershipPlan(mode="mirror"), max_removals=options.max_removals, force=False,
                     list_name=session.list_label)
    find_list(session)
    if options.create_missing:
        session.client.partition_for_create()  # a misspelt partition: exit 2 before the list is written
    user_field = prepared.profile.user_id_field
    current = read_members(session, con, audience.people, ctx.engine().temp_dir) if session.list_id is not None else \
        load_members(con, (), user_field)
    session.current = MemberIds(con)
    resolve(session, con)
    plan = plan_membership(con, current=current, mode=prepared.mode, create_missing=options.create_missing,
                           user_field=user_field)
    account_plan(report, ctx.rejects, plan, dry_run=options.dry_run)
    to_create = _list_to_create(session)
    if options.plan_out is not None:
        write_plan(plan, options.plan_out, session.list_id, to_create)
    ctx.show_plan(DryRunPlan(plan, session.list_label, session.list_id, to_create))
    check_safety(plan, max_removals=options.max_removals, force=options.force, list_name=session.list_label)
    if not options.dry_run:
        if uses_bulk_import(plan.to_create) and prepared.profile.bulk_row_field:
            _check_row_field(session)
        _write(session, plan)
    finish(session, plan)
    return report


def _list_to_create(session: SyncSession) -> Change | None:
    """The plan's row for the list --create-list creates, when find_list did not find it."""
    if session.list_id is not None or session.folder is None:
        return None
    folder = session.folder
    return list_created(session.options.list_name or "", None, f"{folder.type.lower()} {folder.id}")


def _check_row_field(session: SyncSession) -> None:
    """bulk_row_field must name a scratch field Marketo has (Describe, cached a day), before any write."""
    profile = session.profile
    check_row_field(load_catalog(session.client, session.store), profile.bulk_row_field,
                    lookup_field=profile.lookup_field, mapped=[profile.user_id_field or ""])


def _write(session: SyncSession, plan: ListMembershipPlan) -> None:
    """The list (created when missing), new leads (--create-missing), adds, then removes."""
    if not plan.changes and session.list_id is not None:
        return
    if session.list_id is None:
        create_list(session)
    adds: Iterable[Member] = plan.adds.members()
    if plan.to_create:
        adds = chain(adds, create_people(session, plan))
    for window in session.windows(adds):  # the ids stream out of the engine
        add_members(session, plan, window)
    for window in session.windows(plan.removes.members()):
        remove_members(session, window)
