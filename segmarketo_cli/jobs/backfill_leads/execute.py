"""backfill-leads writes: a plan's upserts through Sync Leads or Bulk Import, Munchkin cookies, every outcome
recorded (report buckets, rejects file, hashes and lead ids Marketo confirmed)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.backfill_leads.execute_rest import BatchResult, CookieLinker, RestExecutor
from segmarketo_cli.jobs.backfill_leads.plan import BackfillPlan, Candidate, lead_key
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.jobs.context import ProgressBar
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.state import StateStore

log = logging.getLogger("segmarketo.backfill")

# A run cut short: the error to re-raise and every candidate Marketo did not confirm (counted deferred).
Stop = tuple[SegmarketoError, list[Candidate]]


class LeadWriter:
    """Writes one run's upserts and records each outcome as Marketo confirms it. Holds the run's bulk bookkeeping
    (leads whose import needs a resend or a cookie lookup) between the executors' callbacks."""

    def __init__(self, client: MarketoClient, store: StateStore, report: RunReport, rejects: RejectsWriter, *,
                 lookup_field: str, bulk_row_field: str | None = None) -> None:
        self.client = client
        self.store = store
        self.report = report
        self.rejects = rejects
        self.lookup_field = lookup_field
        self.bulk_row_field = bulk_row_field
        self.instance = client.instance
        self._bar = ProgressBar()
        self._imported_with_cookies: list[Candidate] = []
        self._bulk_unconfirmed: list[Candidate] = []

    def reject(self, key: str | None, reason: str, **extra: Any) -> None:
        """One lead rejected: counted, and written to the rejects file with `reason`."""
        self.report.add("leads_rejected")
        self.rejects.write(reason, key=key, **extra)

    def confirm(self, candidates: list[Candidate]) -> None:
        """Remember the hashes of leads Marketo holds as planned, so the next run skips them."""
        self.store.remember_hashes(self.instance, self.lookup_field, [(c.key, c.hash) for c in candidates])

    def write(self, plan: BackfillPlan, *, bulk: bool, progress: Callable[..., Any]) -> None:
        """Cookies of unchanged leads, then the upserts (Bulk Import when `bulk`); re-raises a stop error after
        counting every unconfirmed lead as deferred."""
        self._link_unchanged_cookies(plan.unchanged)
        upserts = plan.upserts
        if not upserts:
            return
        with progress(len(upserts), "upserting", unit="lead") as bar:
            self._bar = bar
            stopped = self._bulk(upserts) if bulk else self._rest(upserts)
        if stopped is not None:
            error, unconfirmed = stopped
            self.report.add("leads_deferred", len(unconfirmed))
            self.report.notes.append(f"stopped early: {len(unconfirmed):,} lead(s) deferred to the next run; "
                                     "everything Marketo confirmed is recorded")
            raise error

    # REST ----------------------------------------------------------------------------------------------------
    def _rest(self, candidates: list[Candidate]) -> Stop | None:
        """Sync Leads for `candidates` (cookies linked); the stop error with every unconfirmed candidate, or None."""
        executor = RestExecutor(self.client, lookup_field=self.lookup_field,
                                linker=CookieLinker(self.client, self.store), on_result=self._on_rest)
        outcome = executor.run(candidates)
        return (outcome.error, outcome.unconfirmed) if outcome else None

    def _on_rest(self, result: BatchResult) -> None:
        hashes: list[tuple[str, str]] = []
        ids: list[tuple[str, list[int]]] = []
        for outcome in result.outcomes:
            candidate = outcome.candidate
            if outcome.status == "rejected":
                self.reject(candidate.key, outcome.message or "skipped by Marketo", code=outcome.code,
                            origin=candidate.origin, fields=candidate.fields)
                continue
            self.report.add(f"leads_{outcome.status}")
            hashes.append((candidate.key, candidate.hash))
            if outcome.lead_id:
                ids.append((candidate.key, [int(outcome.lead_id)]))
        self.store.remember_hashes(self.instance, self.lookup_field, hashes)
        if ids:
            self.store.remember_lead_ids(self.instance, self.lookup_field, ids)
        self.report.add("cookies_associated", result.cookies_associated)
        for problem in result.cookie_errors:
            self.report.add("cookies_failed")
            log.warning("Munchkin association failed: %s", problem)
        self._bar.update(len(result.outcomes))

    # Bulk Import ---------------------------------------------------------------------------------------------
    def _bulk(self, upserts: list[Candidate]) -> Stop | None:
        executor = BulkExecutor(self.client, lookup_field=self.lookup_field, on_result=self._on_bulk,
                                row_field=self.bulk_row_field)
        stopped = executor.run(upserts)
        self.report.add("bulk_import_jobs", executor.jobs)
        if stopped is not None:
            return stopped[0], self._bulk_unconfirmed + stopped[1]
        if self._bulk_unconfirmed:
            stopped = self._resend_unconfirmed(self._bulk_unconfirmed)
        if stopped is None and self._imported_with_cookies:
            stopped = self._link_bulk_cookies(self._imported_with_cookies)
        return stopped

    def _on_bulk(self, result: ImportResult) -> None:
        if result.unconfirmed:
            self._bulk_unconfirmed.extend(result.unconfirmed)
            self.report.add("bulk_jobs_unreconciled")
        self.report.add("leads_imported", len(result.imported))
        self.confirm(result.imported)
        self._imported_with_cookies.extend(c for c in result.imported if c.cookies)
        for candidate, reason in result.rejected:
            self.reject(candidate.key, f"bulk import: {reason}", origin=candidate.origin, fields=candidate.fields)
        for candidate, reason in result.warnings:
            self.report.add("bulk_warnings")
            log.warning("bulk import warning for %s: %s", candidate.origin, reason)
        self._bar.update(len(result.imported) + len(result.rejected))

    def _resend_unconfirmed(self, candidates: list[Candidate]) -> Stop | None:
        """Leads of bulk jobs whose failure/warning files did not reconcile: Sync Leads gives each its own
        answer (an upsert of what the job may already have written is harmless)."""
        self.report.add("bulk_leads_resent", len(candidates))
        self.report.notes.append(f"{len(candidates):,} lead(s) of bulk jobs whose outcome Marketo's files could "
                                 "not confirm were sent again through Sync Leads")
        return self._rest(candidates)

    # Munchkin cookies ----------------------------------------------------------------------------------------
    def _link_unchanged_cookies(self, unchanged: list[Candidate]) -> None:
        """Cookies of leads an earlier run confirmed but stopped (607, crash) before associating; done pairs cost
        nothing, since CookieLinker skips what the state store says is associated."""
        waiting = [c for c in unchanged if c.cookies]
        if not waiting:
            return
        ids = self.store.lead_ids_for(self.instance, self.lookup_field, [c.key for c in waiting])
        pairs = [(cookie, lead_id) for c in waiting for lead_id in ids.get(c.key, []) for cookie in c.cookies]
        result = BatchResult()
        CookieLinker(self.client, self.store).link(pairs, result)
        self.report.add("cookies_associated", result.cookies_associated)
        uncached = [c for c in waiting if not ids.get(c.key)]
        stopped: Stop | None = (result.stop, []) if result.stop is not None else None
        if stopped is None and uncached:
            stopped = self._link_bulk_cookies(uncached)
        if stopped is not None:
            raise stopped[0]

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
            return result.stop, []
        return None
