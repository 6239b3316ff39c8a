"""run(ctx, prepared) without the CLI: the report it returns, the plan a dry run hands to show_plan, re-runs."""

from __future__ import annotations

from segmarketo_cli import paths
from segmarketo_cli.config import load_settings
from segmarketo_cli.jobs.backfill_leads.plan_table import BackfillPlan
from segmarketo_cli.jobs.backfill_leads.prepare import BackfillOptions, prepare
from segmarketo_cli.jobs.backfill_leads.run import run
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.state import StateStore
from tests.backfill_leads.test_cli import write_people


def job(tmp_path, store: StateStore, *, dry_run: bool = False, **flags):
    """A prepared backfill of 3 people and the context to run it in; the plans shown are collected in `shown`."""
    settings = load_settings()  # the sandbox fixture's environment
    options = BackfillOptions(files=(str(write_people(tmp_path / "in.jsonl", 3)),), dry_run=dry_run, **flags)
    services = Services(settings, store)
    shown: list[tuple[BackfillPlan, list[str]]] = []  # each plan with its upserts' keys, read while it is open

    def show_plan(plan: BackfillPlan) -> None:
        shown.append((plan, [c.key for c in plan.iter_upserts()]))

    ctx = JobContext(services=services, report=RunReport("backfill-leads", dry_run=dry_run),
                     rejects=RejectsWriter(tmp_path / "rejects.jsonl"), show_plan=show_plan)
    return ctx, prepare(settings, options, services), shown


def test_a_dry_run_shows_its_plan_and_writes_nothing(sandbox, tmp_path):
    store = StateStore(paths.state_dir(), "default")
    ctx, prepared, shown = job(tmp_path, store, dry_run=True, bulk_threshold=3)
    report = run(ctx, prepared)
    assert report is ctx.report
    assert report.counts["leads_to_write"] == 3
    assert report.details["mode"] == "bulk"
    ((plan, keys),) = shown
    assert keys == [f"person{i}@example.com" for i in range(3)]
    assert plan.uses_bulk(3)
    assert sandbox.marketo.leads == []


def test_a_run_writes_then_a_rerun_finds_everything_unchanged(sandbox, tmp_path):
    store = StateStore(paths.state_dir(), "default")
    ctx, prepared, shown = job(tmp_path, store)
    report = run(ctx, prepared)
    assert report.counts["leads_created"] == 3
    assert report.imbalances() == []
    assert shown == []  # only a dry run shows its plan
    assert len(sandbox.marketo.leads) == 3
    calls = sandbox.marketo.calls
    ctx, prepared, _ = job(tmp_path, store)
    report = run(ctx, prepared)
    assert report.counts["leads_unchanged"] == 3
    assert sandbox.marketo.calls == calls
