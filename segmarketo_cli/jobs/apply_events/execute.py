"""Apply an apply-events plan to Marketo: lead field writes, list removals, program statuses, campaign requests."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from segmarketo_cli.errors import ConfigError, MarketoError, SegmarketoError, ServiceUnavailable
from segmarketo_cli.jobs.apply_events.accounting import Ledger
from segmarketo_cli.jobs.apply_events.changes import ChangeBuilder
from segmarketo_cli.jobs.apply_events.leads import LeadIndex, LeadResolver
from segmarketo_cli.jobs.apply_events.plan import CampaignRequest, LeadUpdate, RulesPlan, StatusChange, calls_for
from segmarketo_cli.jobs.batches import chunks, first_reason, positional
from segmarketo_cli.jobs.batchpool import run_batches
from segmarketo_cli.marketo.base import MAX_BATCH, MAX_CAMPAIGN_BATCH
from segmarketo_cli.marketo.codes import record_bucket, record_outcome
from segmarketo_cli.state.change_log import Change, ChangeWriter, discard_writer

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

log = logging.getLogger("segmarketo.apply_events")

T = TypeVar("T", bound=Sequence[Any])  # a batch: lead updates, lead ids, or (list id, lead ids)
Rows = list[dict[str, Any]]


def _log_batch(kind: str, batch: Sequence[Any], rows: Rows) -> None:
    """One INFO line per write call (for --log-file): the call, how many leads, Marketo's row statuses."""
    ids = batch[1] if isinstance(batch, tuple) else batch  # remove_from_list batches are (list id, lead ids)
    statuses = Counter(str(row.get("status")) for row in rows if isinstance(row, dict))
    log.info("%s batch: %d leads%s", kind, len(ids), "".join(f", {n} {s}" for s, n in sorted(statuses.items())),
             extra={"data": {"event": "batch", "call": kind, "records": len(ids), **statuses}})


def _unchanged(row: Mapping[str, Any] | None) -> bool:
    """Marketo skipped the record because it already was as asked (1015 not in list, 1037 already in status)."""
    return row is not None and record_bucket(row) == "unchanged"


class PlanExecutor:
    """Runs each stage's batches on up to `workers` threads; results are settled on the calling thread, where
    each confirmed batch's changes go to the change log (`log`, one record call per batch) before its events are
    marked processed."""

    def __init__(self, client: MarketoClient, ledger: Ledger, resolver: LeadResolver, index: LeadIndex, *,
                 workers: int = 1, builder: ChangeBuilder | None = None, log: ChangeWriter | None = None) -> None:
        self.client = client
        self.ledger = ledger
        self.resolver = resolver
        self.index = index
        self.builder = builder or ChangeBuilder(index)
        self.log = log or discard_writer()
        self.workers = max(1, workers)
        self.calls: dict[str, int] = {}
        self.failed_leads: set[int] = set()
        self.all_lists: list[int] | None = None  # every static list, read once per run

    def run(self, plan: RulesPlan) -> None:
        """Read what one plan (a window of the run) needs, then apply it."""
        self.read(plan)
        self.apply(plan)

    def read(self, plan: RulesPlan) -> None:
        """The reads before a window's writes (a dry run makes them too, so its plan shows the same values): every
        static list of an "all" suppression, and the current values of the fields the Sync Leads rows write."""
        self.expand_all_lists(plan)
        fields = plan.read_fields
        if fields:
            self.resolver.read(sorted(plan.updates), fields, self.index)
        self.builder.remember(plan)

    def apply(self, plan: RulesPlan) -> None:
        """Apply a plan already `read`: every stage in order, then let go of the settled matches."""
        self.register(plan)
        self.write_leads(plan)
        self.remove_from_lists(plan)
        for change in plan.statuses:
            self.set_statuses(change)
        for request in plan.campaigns:
            self.request_campaign(request)
        self.ledger.forget_settled()

    # batching ------------------------------------------------------------------------------------
    def _each(self, kind: str, batches: Sequence[T], call: Callable[[T], Rows],
              handle: Callable[[T, Rows], list[Change]]) -> None:
        """call(batch) concurrently (run_batches: at most `workers` calls out; once a call fails or Ctrl-C or
        SIGTERM came, no batch starts); handle(batch, result) in batch order, logging the changes it returns; then
        the error or the signal is raised. `calls` counts the calls made."""
        if not batches:
            return
        made: list[T] = []  # the batches sent (list.append is atomic)

        def send(batch: T) -> Rows:
            made.append(batch)
            return call(batch)

        try:
            for batch, rows in run_batches(send, batches, self.workers, in_order=True):
                self.log.record(handle(batch, rows))
                self.ledger.flush()
                _log_batch(kind, batch, rows)
        finally:
            self.calls[kind] = self.calls.get(kind, 0) + len(made)

    # stage 0: reads ------------------------------------------------------------------------------
    def expand_all_lists(self, plan: RulesPlan) -> None:
        """remove_from_lists = "all": find every static list each suppressed lead belongs to."""
        leads = plan.removal.all_lists
        if not leads:
            return
        if self.all_lists is None:
            self.all_lists = [int(row["id"]) for page in self.client.paged("/rest/v1/lists.json",
                                                                           {"batchSize": MAX_BATCH})
                              for row in page if row.get("id") is not None]
            self.calls["list_lookup"] = self.calls.get("list_lookup", 0) + max(1, calls_for(len(self.all_lists)))
        for list_id in self.all_lists:
            for chunk in chunks(leads):
                self.calls["list_ismember"] = self.calls.get("list_ismember", 0) + 1
                for row in self.client.list_ismember(list_id, list(chunk)):
                    if row.get("status") == "memberof":
                        members = plan.removal.by_list.setdefault(list_id, [])
                        if int(row["id"]) not in members:
                            members.append(int(row["id"]))

    def register(self, plan: RulesPlan) -> None:
        """Tell the ledger how many confirmations each match waits for."""
        for update in plan.updates.values():
            for match in update.matches:
                self.ledger.expect(match)
        lists_per_lead: dict[int, int] = {}
        for leads in plan.removal.by_list.values():
            for lead in leads:
                lists_per_lead[lead] = lists_per_lead.get(lead, 0) + 1
        for lead, n in lists_per_lead.items():
            for match in plan.removal.matches.get(lead, ()):
                self.ledger.expect(match, n)
        for change in plan.statuses:
            for matches in change.leads.values():
                for match in matches:
                    self.ledger.expect(match)
        for request in plan.campaigns:
            for matches in request.leads.values():
                for match in matches:
                    self.ledger.expect(match)

    # stage 1: score, set-fields and unsubscribe in one Sync Leads row per lead -------------------------
    def write_leads(self, plan: RulesPlan) -> None:
        if not plan.updates:
            return
        updates = list(plan.updates.values())

        def call(batch: Sequence[LeadUpdate]) -> Rows:
            records = [u.record(self.index.values.get(u.lead_id, {})) for u in batch]
            # A score is written as an absolute value: pending until recorded, so a crash cannot add it twice.
            self.ledger.hold("score", [(m, u.lead_id, m.rule.field, row[m.rule.field])
                                       for u, row in zip(batch, records, strict=True) if u.deltas
                                       for m in u.matches if m.rule.action == "score"])
            return self.client.sync_leads(records, action="updateOnly", lookup_field="id")

        def handle(batch: Sequence[LeadUpdate], results: Rows) -> list[Change]:
            changes = []
            for update, row in positional(results, batch):
                if row is not None and row.get("status") in ("updated", "created"):
                    changes += self.builder.lead_changes(update)
                    for match in update.matches:
                        self.ledger.settle(match, "applied")
                    continue
                self.failed_leads.add(update.lead_id)
                if row is not None and record_outcome(row).bucket == "not_found" \
                        and update.lead_id in self.index.key_of:
                    self.resolver.forget([self.index.key_of[update.lead_id]])
                reason = first_reason(row).describe()
                for match in update.matches:
                    self.ledger.settle(match, "rejected", reason, leadId=update.lead_id)
            return changes

        self._each("sync_leads", list(chunks(updates)), call, handle)

    # stage 2: list removals of suppressed leads ----------------------------------------------------------
    def remove_from_lists(self, plan: RulesPlan) -> None:
        removal = plan.removal
        batches: list[tuple[int, Sequence[int]]] = []
        for list_id, leads in removal.by_list.items():
            live = []
            for lead in leads:
                if lead in self.failed_leads:
                    for match in removal.matches.get(lead, ()):
                        self.ledger.settle(match, "rejected", "not removed from lists: the unsubscribe failed")
                else:
                    live.append(lead)
            batches.extend((list_id, chunk) for chunk in chunks(live))

        def call(batch: tuple[int, Sequence[int]]) -> Rows:
            return self.client.remove_from_list(batch[0], list(batch[1]))

        def handle(batch: tuple[int, Sequence[int]], results: Rows) -> list[Change]:
            by_id = {int(r["id"]): r for r in results if r.get("id") is not None}
            changes = []
            for lead in batch[1]:
                row = by_id.get(lead)
                outcome = "applied" if row is not None and row.get("status") == "removed" else \
                    "unchanged" if _unchanged(row) else "rejected"
                if outcome == "applied":
                    changes.append(self.builder.removal(batch[0], lead, removal.matches.get(lead, [])))
                reason = f"removing from list {batch[0]}: {first_reason(row).describe()}"
                for match in removal.matches.get(lead, ()):
                    self.ledger.settle(match, outcome, reason, leadId=lead)
            return changes

        self._each("remove_from_list", batches, call, handle)

    # stage 3: program member status ----------------------------------------------------------------------
    def set_statuses(self, change: StatusChange) -> None:
        leads = list(change.leads)

        def call(batch: Sequence[int]) -> Rows:
            try:
                return self.client.sync_program_member_status(change.program_id, change.status, list(batch))
            except MarketoError as exc:
                if exc.code in ("1025", "1013"):
                    key = "status" if exc.code == "1025" else "program"
                    raise ConfigError(f"{change.rule.origin}: {change.rule.label}, key '{key}': "
                                      f"{exc.message}") from None
                raise

        def handle(batch: Sequence[int], results: Rows) -> list[Change]:
            by_seq = {int(r["seq"]): r for r in results if r.get("seq") is not None}
            changes = []
            for position, (lead, in_order) in enumerate(positional(results, batch)):
                row = by_seq.get(position, in_order)
                reason: str | None = None
                if row is not None and row.get("status") in ("created", "updated"):
                    outcome = "applied"
                    changes.append(self.builder.status(change, lead))
                else:
                    reason = first_reason(row).describe()
                    outcome = "unchanged" if _unchanged(row) else "rejected"
                for match in change.leads[lead]:
                    self.ledger.settle(match, outcome, reason, leadId=lead)
            return changes

        self._each("program_status", list(chunks(leads)), call, handle)

    # stage 4: Request Campaign, ≤100 leads per call, one token set per call ------------------------------
    def request_campaign(self, request: CampaignRequest) -> None:
        leads = list(request.leads)
        tokens = dict(request.tokens) or None

        def call(batch: Sequence[int]) -> Rows:
            held = [(match, lead) for lead in batch for match in request.leads[lead]]
            self.ledger.hold("campaign", [(m, lead, None, request.campaign_id) for m, lead in held])
            try:
                return self.client.request_campaign(request.campaign_id, list(batch), tokens=tokens)
            except ServiceUnavailable:
                raise  # the request may have reached Marketo: it stays pending (uncertain on the next run)
            except SegmarketoError as exc:
                self.ledger.release(m for m, _ in held)  # Marketo answered an error (or no call): nothing ran
                if isinstance(exc, MarketoError) and exc.code in ("1003", "1013"):
                    raise ConfigError(f"{request.rule.origin}: {request.rule.label}, key 'campaign': {exc.message}") \
                        from None
                raise

        def handle(batch: Sequence[int], _results: Rows) -> list[Change]:
            for lead in batch:
                for match in request.leads[lead]:
                    self.ledger.settle(match, "applied")
            return [self.builder.campaign(request, lead) for lead in batch]

        self._each("request_campaign", list(chunks(leads, MAX_CAMPAIGN_BATCH)), call, handle)
