"""backfill-leads end to end: read inputs -> identity graph -> describe + plan -> REST or bulk apply -> report."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.identity import IdentityGraph, find_email
from segmarketo_cli.jobs.backfill_leads.execute_rest import BatchResult, CookieLinker, RestExecutor
from segmarketo_cli.jobs.backfill_leads.plan import BackfillPlan, Candidate, Ownership, build_plan
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.jobs.bulk_import.reports import check_row_field
from segmarketo_cli.mapping.mapper import FieldCatalog, Mapper, load_catalog
from segmarketo_cli.sources import InputFile, read_all
from segmarketo_cli.sources.jsonlines import ContainsAny
from segmarketo_cli.sources.shape import shape_problem

log = logging.getLogger("segmarketo.backfill")

MESSAGE_BUCKETS = ("messages_read", "messages_used", "messages_ignored", "messages_malformed")
LEAD_BUCKETS = ("leads_created", "leads_updated", "leads_imported", "leads_unchanged", "leads_rejected",
                "leads_deferred")
DRY_RUN_LEAD_BUCKETS = ("leads_to_write", "leads_unchanged", "leads_rejected")
DEFAULT_BULK_THRESHOLD = 20_000


@dataclass
class BackfillOptions:
    """Everything the command line decided; validated by the CLI before any call."""

    inputs: list[InputFile]
    lookup_field: str = "email"
    user_id_field: str | None = None
    explicit_mapping: dict[str, str] = field(default_factory=dict)
    auto_map: bool = True
    nulls: str = "keep"
    on_invalid: str = "reject"
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD
    full: bool = False
    dry_run: bool = False
    ownership: dict[str, Any] = field(default_factory=dict)
    user_id_is_email: bool = False
    samples: int = 5
    bulk_row_field: str | None = None


def _no_progress(total: int | None, desc: str, unit: str = "rec") -> Any:
    class _Null:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...
    return _Null()


class BackfillJob:
    """One run. `client` is a MarketoClient (or anything with its lead/bulk methods), `store` a StateStore."""

    def __init__(self, options: BackfillOptions, *, client: Any, store: Any, report: Any, rejects: Any,
                 progress: Callable[..., Any] = _no_progress, sleep: Callable[[float], None] | None = None) -> None:
        self.o = options
        self.client = client
        self.store = store
        self.report = report
        self.rejects = rejects
        self.progress = progress
        self.sleep = sleep
        self.instance = getattr(client, "instance", "")
        self.plan: BackfillPlan | None = None
        self.mapper: Mapper | None = None

    # ---------------------------------------------------------------------------------------------
    def run(self) -> BackfillPlan:
        report = self.report
        report.rejected_buckets = ("leads_rejected", "messages_malformed")
        report.expect_balance("messages_read", *MESSAGE_BUCKETS[1:])
        leads = DRY_RUN_LEAD_BUCKETS if self.o.dry_run else LEAD_BUCKETS
        report.expect_balance("leads_planned", *leads)
        if not self.o.dry_run:
            report.ensure("cookies_associated")
        catalog = load_catalog(self.client, self.store)
        catalog.check_lookup(self.o.lookup_field)
        self.client.partition_for_create()  # a misspelt partition: exit 2 now, dry run included
        check_row_field(catalog, self.o.bulk_row_field, lookup_field=self.o.lookup_field,
                        mapped=self.o.explicit_mapping.values())
        ownership = Ownership.from_table(self.o.ownership, catalog, lookup_field=self.o.lookup_field,
                                         where="[fields] of the profile")
        self.mapper = Mapper(catalog, explicit=self.o.explicit_mapping, auto_map=self.o.auto_map,
                             user_id_field=self.o.user_id_field, on_invalid=self.o.on_invalid)
        # Reading builds millions of small acyclic objects; the cyclic GC would rescan them over and over
        # (it halved throughput in bench/bench_backfill.py), so it is paused while the plan is built.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            graph = self._read()
            plan = self.plan = build_plan(
                graph.people(consume=True), self.mapper, lookup_field=self.o.lookup_field, ownership=ownership,
                stored_hashes=lambda keys: self.store.pushed_hashes(self.instance, self.o.lookup_field, keys),
                read_current=self._read_current, full=self.o.full,
            )
        finally:
            if gc_was_enabled:
                gc.enable()
        self._record_plan(plan, catalog)
        report.counts["leads_planned"] = plan.planned
        if self.o.dry_run:
            report.add("leads_to_write", len(plan.upserts))
            report.details["sample"] = [c.fields for c in plan.upserts[: self.o.samples]]
            report.details["mode"] = "bulk" if len(plan.upserts) >= self.o.bulk_threshold else "rest"
            return plan
        self._apply(plan)
        return plan

    # reading -------------------------------------------------------------------------------------
    def _read(self) -> IdentityGraph:
        graph = IdentityGraph(nulls=self.o.nulls, user_id_is_email=self.o.user_id_is_email)
        report, rejects = self.report, self.rejects
        counts = dict.fromkeys(MESSAGE_BUCKETS, 0)
        bar = self.progress(None, "reading", "msg")
        try:
            for item in read_all(self.o.inputs, keep=might_matter):
                counts["messages_read"] += 1
                if counts["messages_read"] % 10_000 == 0:
                    bar.update(10_000)
                if item.skipped:
                    counts["messages_ignored"] += 1
                    continue
                if item.error is None:
                    problem = _message_problem(item.message)
                    if problem is None:
                        counts["messages_used" if graph.add(item.message, item.origin) else "messages_ignored"] += 1
                        continue
                else:
                    problem = item.error
                counts["messages_malformed"] += 1
                rejects.write(f"malformed input: {problem}", origin=item.origin)
        finally:
            bar.close()
        for bucket, n in counts.items():
            report.add(bucket, n)
        report.details["people"] = len(graph)
        return graph

    def _read_current(self, keys: list[str], fields: list[str]) -> dict[str, list[dict[str, Any]]]:
        from segmarketo_cli.jobs.backfill_leads.plan import lead_key

        readable = [k for k in keys if "," not in k]  # Marketo splits filterValues on commas
        current: dict[str, list[dict[str, Any]]] = {}
        for row in self.client.get_leads_by_filter(self.o.lookup_field, readable, fields):
            key = lead_key(self.o.lookup_field, row.get(self.o.lookup_field))
            if key is not None:
                current.setdefault(key, []).append(row)
        return current

    def _record_plan(self, plan: BackfillPlan, catalog: FieldCatalog) -> None:
        report = self.report
        report.add("leads_unchanged", len(plan.unchanged))
        for reject in plan.rejects:
            self._reject(reject.key, reject.reason, origin=reject.origin, fields=reject.fields, code=reject.code)
        for kind, n in plan.fields_skipped.items():
            if n:
                report.add(f"fields_skipped_{kind}", n)
        if plan.fields_dropped:
            report.add("fields_dropped_invalid", plan.fields_dropped)
        if plan.compliance_skipped:
            report.add("consent_values_not_lowered", plan.compliance_skipped)
        unmapped = dict(sorted(self.mapper.unmapped.items())) if self.mapper else {}
        if unmapped:
            report.details["unmapped_traits"] = unmapped
            report.notes.append(f"{len(unmapped)} trait(s) map to no Marketo field: " + ", ".join(list(unmapped)[:20])
                                + (" ..." if len(unmapped) > 20 else ""))
        # Leads found unchanged by reading Marketo (ownership left nothing to write) count as confirmed.
        confirmed = [(c.key, c.hash) for c in plan.unchanged]
        if confirmed and not self.o.dry_run:
            self.store.remember_hashes(self.instance, self.o.lookup_field, confirmed)

    def _reject(self, key: str | None, reason: str, **extra: Any) -> None:
        self.report.add("leads_rejected")
        self.rejects.write(reason, key=key, **extra)

    # applying ------------------------------------------------------------------------------------
    def _apply(self, plan: BackfillPlan) -> None:
        self._link_unchanged_cookies(plan.unchanged)
        upserts = plan.upserts
        if not upserts:
            return
        bar = self.progress(len(upserts), "upserting", "lead")
        self._bar = bar
        try:
            bulk = len(upserts) >= self.o.bulk_threshold
            stopped = self._apply_bulk(upserts) if bulk else self._apply_rest(upserts)
        finally:
            bar.close()
        if stopped is not None:
            error, unconfirmed = stopped
            self.report.add("leads_deferred", len(unconfirmed))
            self.report.notes.append(f"stopped early: {len(unconfirmed):,} lead(s) deferred to the next run; "
                                     "everything Marketo confirmed is recorded")
            raise error

    def _on_rest(self, result: BatchResult) -> None:
        hashes, ids = [], []
        for outcome in result.outcomes:
            candidate = outcome.candidate
            if outcome.status == "rejected":
                self._reject(candidate.key, outcome.message or "skipped by Marketo", code=outcome.code,
                             origin=candidate.origin, fields=candidate.fields)
                continue
            self.report.add(f"leads_{outcome.status}")
            hashes.append((candidate.key, candidate.hash))
            if outcome.lead_id:
                ids.append((candidate.key, [int(outcome.lead_id)]))
        self.store.remember_hashes(self.instance, self.o.lookup_field, hashes)
        if ids:
            self.store.remember_lead_ids(self.instance, self.o.lookup_field, ids)
        self.report.add("cookies_associated", result.cookies_associated)
        for problem in result.cookie_errors:
            self.report.add("cookies_failed")
            log.warning("Munchkin association failed: %s", problem)
        self._bar.update(len(result.outcomes))

    def _apply_bulk(self, upserts: list[Candidate]) -> tuple[Any, list[Candidate]] | None:
        kwargs = {"sleep": self.sleep} if self.sleep else {}
        executor = BulkExecutor(self.client, lookup_field=self.o.lookup_field, on_result=self._on_bulk,
                                row_field=self.o.bulk_row_field, **kwargs)
        self._imported_with_cookies: list[Candidate] = []
        self._bulk_unconfirmed: list[Candidate] = []
        stopped = executor.run(upserts)
        self.report.add("bulk_import_jobs", executor.jobs)
        if stopped is not None:
            return stopped[0], self._bulk_unconfirmed + stopped[1]
        if self._bulk_unconfirmed:
            stopped = self._resend_unconfirmed(self._bulk_unconfirmed)
        if stopped is None and self._imported_with_cookies:
            stopped = self._link_bulk_cookies(self._imported_with_cookies)
        return stopped

    def _resend_unconfirmed(self, candidates: list[Candidate]) -> tuple[Any, list[Candidate]] | None:
        """Leads of bulk jobs whose failure/warning files did not reconcile: Sync Leads gives each its own
        answer (an upsert of what the job may already have written is harmless)."""
        self.report.add("bulk_leads_resent", len(candidates))
        self.report.notes.append(f"{len(candidates):,} lead(s) of bulk jobs whose outcome Marketo's files could "
                                 "not confirm were sent again through Sync Leads")
        return self._apply_rest(candidates)

    def _apply_rest(self, candidates: list[Candidate]) -> tuple[Any, list[Candidate]] | None:
        """Sync Leads for `candidates` (cookies linked); the stop error with every unconfirmed candidate, or None."""
        executor = RestExecutor(self.client, lookup_field=self.o.lookup_field,
                                linker=CookieLinker(self.client, self.store), on_result=self._on_rest)
        outcome = executor.run(candidates)
        return (outcome.error, outcome.unconfirmed) if outcome else None

    def _on_bulk(self, result: ImportResult) -> None:
        if result.unconfirmed:
            self._bulk_unconfirmed.extend(result.unconfirmed)
            self.report.add("bulk_jobs_unreconciled")
        self.report.add("leads_imported", len(result.imported))
        self.store.remember_hashes(self.instance, self.o.lookup_field, [(c.key, c.hash) for c in result.imported])
        self._imported_with_cookies.extend(c for c in result.imported if c.cookies)
        for candidate, reason in result.rejected:
            self._reject(candidate.key, f"bulk import: {reason}", origin=candidate.origin, fields=candidate.fields)
        for candidate, reason in result.warnings:
            self.report.add("bulk_warnings")
            log.warning("bulk import warning for %s: %s", candidate.origin, reason)
        self._bar.update(len(result.imported) + len(result.rejected))

    def _link_unchanged_cookies(self, unchanged: list[Candidate]) -> None:
        """Cookies of leads an earlier run confirmed but stopped (607, crash) before associating; done pairs cost
        nothing, since CookieLinker skips what the state store says is associated."""
        waiting = [c for c in unchanged if c.cookies]
        if not waiting:
            return
        ids = self.store.lead_ids_for(self.instance, self.o.lookup_field, [c.key for c in waiting])
        pairs = [(cookie, lead_id) for c in waiting for lead_id in ids.get(c.key, []) for cookie in c.cookies]
        result = BatchResult()
        CookieLinker(self.client, self.store).link(pairs, result)
        self.report.add("cookies_associated", result.cookies_associated)
        uncached = [c for c in waiting if not ids.get(c.key)]
        stopped = (result.stop, []) if result.stop is not None else None
        if stopped is None and uncached:
            stopped = self._link_bulk_cookies(uncached)
        if stopped is not None:
            raise stopped[0]

    def _link_bulk_cookies(self, candidates: list[Candidate]) -> tuple[Any, list[Candidate]] | None:
        """Bulk import returns no lead ids: look them up (300 per call), then associate each new cookie."""
        from segmarketo_cli.errors import SegmarketoError

        by_key = {c.key: c for c in candidates}
        result = BatchResult()
        try:
            rows = self.client.get_leads_by_filter(self.o.lookup_field, list(by_key), ["id", self.o.lookup_field])
        except SegmarketoError as exc:
            self.report.notes.append(f"Munchkin cookies not associated: {exc.message}")
            return None
        from segmarketo_cli.jobs.backfill_leads.plan import lead_key

        pairs, found = [], {}
        for row in rows:
            candidate = by_key.get(lead_key(self.o.lookup_field, row.get(self.o.lookup_field)) or "")
            if candidate and row.get("id"):
                pairs.extend((cookie, int(row["id"])) for cookie in candidate.cookies)
                found.setdefault(candidate.key, []).append(int(row["id"]))
        self.store.remember_lead_ids(self.instance, self.o.lookup_field, found.items())
        CookieLinker(self.client, self.store).link(pairs, result)
        self.report.add("cookies_associated", result.cookies_associated)
        if result.stop is not None:
            return result.stop, []
        return None


# Cheap byte test: only identify and alias messages, or messages carrying a Munchkin cookie, are used.
might_matter = ContainsAny(b'"identify"', b'"alias"', b"marketoCookie")


def _message_problem(message: dict[str, Any] | None) -> str | None:
    """Why a parsed message is malformed (None when it is a usable Spec message)."""
    if not isinstance(message, dict):
        return "not a message"
    problem = shape_problem(message)
    if problem:
        return problem
    kind = message.get("type")
    if not kind:
        return "no 'type' field"
    no_id = not (message.get("userId") or message.get("anonymousId"))
    if kind == "identify" and no_id and find_email(message) is None:
        return "identify without userId, anonymousId or email"
    if kind == "alias" and not (message.get("previousId") and message.get("userId")):
        return "alias without previousId and userId"
    return None
