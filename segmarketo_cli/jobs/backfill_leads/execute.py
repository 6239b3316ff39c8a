"""backfill-leads writes: a plan's upserts through Sync Leads or Bulk Import, Munchkin cookies, every outcome
recorded (report buckets, rejects file, hashes and lead ids Marketo confirmed)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.backfill_leads.execute_rest import BatchResult, CookieLinker, RestExecutor
from segmarketo_cli.jobs.backfill_leads.lead_changes import written
from segmarketo_cli.jobs.backfill_leads.lead_plan import LeadPlan
from segmarketo_cli.jobs.backfill_leads.plan import Candidate, lead_key
from segmarketo_cli.jobs.batches import batches
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.jobs.context import ProgressBar
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state.change_log import Change, ChangeWriter, discard_writer

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.state import StateStore

log = logging.getLogger("segmarketo.backfill")

# A run cut short: the error to re-raise and how many leads Marketo did not confirm (counted deferred).
Stop = tuple[SegmarketoError, int]
COOKIE_CHUNK = 9_900  # leads whose cookies are linked together: whole 300-value lead lookups
HASH_CHUNK = 10_000  # confirmed hashes recorded per state-store transaction


class LeadWriter:
    """Writes one run's upserts and records each outcome as Marketo confirms it, the confirmed writes in the
    run's change log (one `changes.record` per settled batch or import job). Bulk bookkeeping (leads whose import
    needs a resend or a cookie lookup) is marked in the plan's table, only counted here."""

    def __init__(self, client: MarketoClient, store: StateStore, report: RunReport, rejects: RejectsWriter, *,
                 lookup_field: str, bulk_row_field: str | None = None,
                 changes: ChangeWriter | None = None) -> None:
        self.client = client
        self.store = store
        self.report = report
        self.rejects = rejects
        self.changes = changes or discard_writer()
        self.lookup_field = lookup_field
        self.bulk_row_field = bulk_row_field
        self.instance = client.instance
        self._bar = ProgressBar()
        self._resend = 0  # leads of unreconciled bulk jobs, marked "resend"
        self._cookie_imports = 0  # imported leads with Munchkin cookies, marked "cookies"

    def reject(self, key: str | None, reason: str, **extra: Any) -> None:
        """One lead rejected: counted, and written to the rejects file with `reason`."""
        self.report.add("leads_rejected")
        self.rejects.write(reason, key=key, **extra)

    def confirm(self, candidates: Iterable[Candidate]) -> None:
        """Remember the hashes of leads Marketo holds as planned, so the next run skips them."""
        for chunk in batches(candidates, HASH_CHUNK):
            self.store.remember_hashes(self.instance, self.lookup_field, [(c.key, c.hash) for c in chunk])

    def write(self, plan: LeadPlan, *, bulk: bool, progress: Callable[..., Any]) -> None:
        """Cookies of unchanged leads, then the upserts (Bulk Import when `bulk`); re-raises a stop error after
        counting every unconfirmed lead as deferred."""
        self._link_unchanged_cookies(plan)
        if not plan.upsert_count:
            return
        with progress(plan.upsert_count, "upserting", unit="lead") as bar:
            self._bar = bar
            stopped = self._bulk(plan) if bulk else self._rest(plan.iter_upserts())
        if stopped is not None:
            error, unconfirmed = stopped
            self.report.add("leads_deferred", unconfirmed)
            self.report.notes.append(f"stopped early: {unconfirmed:,} lead(s) deferred to the next run; "
                                     "everything Marketo confirmed is recorded")
            raise error

    # REST ----------------------------------------------------------------------------------------------------
    def _rest(self, candidates: Iterable[Candidate]) -> Stop | None:
        """Sync Leads for `candidates` (cookies linked); the stop error with how many were not confirmed, or None."""
        executor = RestExecutor(self.client, lookup_field=self.lookup_field,
                                linker=CookieLinker(self.client, self.store), on_result=self._on_rest)
        outcome = executor.run(candidates)
        return (outcome.error, outcome.deferred) if outcome else None

    def _on_rest(self, result: BatchResult) -> None:
        hashes: list[tuple[str, str]] = []
        ids: list[tuple[str, list[int]]] = []
        changes: list[Change] = []
        for outcome in result.outcomes:
            candidate = outcome.candidate
            if outcome.status == "rejected":
                self.reject(candidate.key, outcome.message or "skipped by Marketo", code=outcome.code,
                            origin=candidate.origin, fields=candidate.fields)
                continue
            self.report.add(f"leads_{outcome.status}")
            hashes.append((candidate.key, candidate.hash))
            lead_id = int(outcome.lead_id) if outcome.lead_id else None
            if lead_id is not None:
                ids.append((candidate.key, [lead_id]))
            changes.append(written(candidate, "create" if outcome.status == "created" else "update", lead_id))
        self.changes.record(changes)
        self.store.remember_hashes(self.instance, self.lookup_field, hashes)
        if ids:
            self.store.remember_lead_ids(self.instance, self.lookup_field, ids)
        self.report.add("cookies_associated", result.cookies_associated)
        for problem in result.cookie_errors:
            self.report.add("cookies_failed")
            log.warning("Munchkin association failed: %s", problem)
        self._bar.update(len(result.outcomes))

    # Bulk Import ---------------------------------------------------------------------------------------------
    def _bulk(self, plan: LeadPlan) -> Stop | None:
        executor = BulkExecutor(self.client, lookup_field=self.lookup_field,
                                on_result=functools.partial(self._on_bulk, plan), row_field=self.bulk_row_field)
        stopped = executor.run(plan.iter_upserts())
        self.report.add("bulk_import_jobs", executor.jobs)
        if stopped is not None:
            return stopped[0], self._resend + stopped[1]
        if self._resend:
            stopped = self._resend_unconfirmed(plan)
        if stopped is None and self._cookie_imports:
            stopped = self._link_cookie_chunks(plan.iter_marked("cookies"))
        return stopped

    def _on_bulk(self, plan: LeadPlan, result: ImportResult) -> None:
        if result.unconfirmed:
            plan.mark("resend", (c.key for c in result.unconfirmed))
            self._resend += len(result.unconfirmed)
            self.report.add("bulk_jobs_unreconciled")
        self.report.add("leads_imported", len(result.imported))
        self.changes.record([written(c) for c in result.imported])  # Bulk Import does not say: as the plan settled
        self.confirm(result.imported)
        with_cookies = [c.key for c in result.imported if c.cookies]
        plan.mark("cookies", with_cookies)
        self._cookie_imports += len(with_cookies)
        for candidate, reason in result.rejected:
            self.reject(candidate.key, f"bulk import: {reason}", origin=candidate.origin, fields=candidate.fields)
        for candidate, reason in result.warnings:
            self.report.add("bulk_warnings")
            log.warning("bulk import warning for %s: %s", candidate.origin, reason)
        self._bar.update(len(result.imported) + len(result.rejected))

    def _resend_unconfirmed(self, plan: LeadPlan) -> Stop | None:
        """Leads of bulk jobs whose failure/warning files did not reconcile: Sync Leads gives each its own
        answer (an upsert of what the job may already have written is harmless)."""
        self.report.add("bulk_leads_resent", self._resend)
        self.report.notes.append(f"{self._resend:,} lead(s) of bulk jobs whose outcome Marketo's files could "
                                 "not confirm were sent again through Sync Leads")
        return self._rest(plan.iter_marked("resend"))

    # Munchkin cookies ----------------------------------------------------------------------------------------
    def _link_unchanged_cookies(self, plan: LeadPlan) -> None:
        """Cookies of leads an earlier run confirmed but stopped (607, crash) before associating; done pairs cost
        nothing, since CookieLinker skips what the state store says is associated."""
        for waiting in batches(plan.iter_unchanged(with_cookies=True), COOKIE_CHUNK):
            ids = self.store.lead_ids_for(self.instance, self.lookup_field, [c.key for c in waiting])
            pairs = [(cookie, lead_id) for c in waiting for lead_id in ids.get(c.key, []) for cookie in c.cookies]
            result = BatchResult()
            CookieLinker(self.client, self.store).link(pairs, result)
            self.report.add("cookies_associated", result.cookies_associated)
            uncached = [c for c in waiting if not ids.get(c.key)]
            stopped: Stop | None = (result.stop, 0) if result.stop is not None else None
            if stopped is None and uncached:
                stopped = self._link_bulk_cookies(uncached)
            if stopped is not None:
                raise stopped[0]

    def _link_cookie_chunks(self, candidates: Iterable[Candidate]) -> Stop | None:
        """`_link_bulk_cookies` over a stream of leads, COOKIE_CHUNK at a time."""
        for chunk in batches(candidates, COOKIE_CHUNK):
            stopped = self._link_bulk_cookies(chunk)
            if stopped is not None:
                return stopped
        return None

    def _link_bulk_cookies(self, candidates: list[Candidate]) -> Stop | None:
        """Bulk import returns no lead ids: look them up (300 per call), then associate each new cookie."""
        by_key = {c.key: c for c in candidates}
        result = BatchResult()
        try:
            rows = self.client.get_leads_by_filter(self.lookup_field, list(by_key), ["id", self.lookup_field])
        except SegmarketoError as exc:
            self.report.notes.append(f"Munchkin cookies not associated: {exc.message}")
            return None
        pairs: list[tuple[str, int]] = []
        found: dict[str, list[int]] = {}
        for row in rows:
            candidate = by_key.get(lead_key(self.lookup_field, row.get(self.lookup_field)) or "")
            if candidate and row.get("id"):
                pairs.extend((cookie, int(row["id"])) for cookie in candidate.cookies)
                found.setdefault(candidate.key, []).append(int(row["id"]))
        self.store.remember_lead_ids(self.instance, self.lookup_field, found.items())
        CookieLinker(self.client, self.store).link(pairs, result)
        self.report.add("cookies_associated", result.cookies_associated)
        if result.stop is not None:
            return result.stop, 0
        return None
