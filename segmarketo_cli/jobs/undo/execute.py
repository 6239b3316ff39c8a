"""Every write of `runs undo`: field values and scores back (Sync Leads updateOnly by id), list adds and removes
reversed, created leads deleted; each confirmed batch recorded in the undo's own change log before the next call,
also when a Ctrl-C or SIGTERM arrives while a call is out (it is held, and raised once the batch is recorded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.batches import chunks, first_reason, positional
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.interrupts import held
from segmarketo_cli.jobs.undo.plan import UndoItem, UndoPlan
from segmarketo_cli.marketo.codes import record_bucket

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient


class UndoWriter:
    """Applies an UndoPlan and settles each item: restored, deleted, unchanged or rejected."""

    def __init__(self, ctx: JobContext, client: MarketoClient, plan: UndoPlan) -> None:
        self.ctx = ctx
        self.client = client
        self.plan = plan
        self._settled = 0  # items of the plan's writes settled so far

    def run(self) -> None:
        """Every write of the plan; when one fails or the run is interrupted, the items not settled yet are counted
        `deferred` (a rerun of the undo does them) and the error is raised."""
        try:
            self.write_leads()
            for (list_id, op), leads in self.plan.list_ops.items():
                self.membership(list_id, op, leads)
            self.delete_leads()
        except BaseException:
            self.ctx.report.add("deferred", len(self._pending(lambda item: True)) - self._settled)
            raise

    def _settle(self, items: Sequence[UndoItem], outcome: str, reason: str = "") -> None:
        """Count `items` in `outcome`; record the writes Marketo confirmed, write the rejected ones out."""
        self._settled += len(items)
        for item in items:
            self.ctx.report.add(outcome)
            if outcome == "rejected":
                self.ctx.rejects.write(reason, lead_id=item.lead_id, field=item.field or None,
                                       target=item.logged.change.target or None, origin=item.origin)
        if outcome in ("restored", "deleted"):
            self.ctx.changes.record(item.change() for item in items)

    def _pending(self, test: Callable[[UndoItem], bool]) -> list[UndoItem]:
        return [item for item in self.plan.items if item.outcome in ("restore", "delete") and test(item)]

    def write_leads(self) -> None:
        """One Sync Leads row per lead with every field and score it gets back, 300 rows per call."""
        by_lead: dict[int, list[UndoItem]] = {}
        for item in self._pending(lambda item: item.action in ("update", "score")):
            by_lead.setdefault(item.lead_id or 0, []).append(item)
        # A lead whose fields end where they are now (+5 then -5 in one run) needs no call.
        self._settle([item for lead, items in by_lead.items() if lead not in self.plan.lead_writes
                      for item in items], "restored")
        records = [{"id": lead, **values} for lead, values in self.plan.lead_writes.items()]
        for batch in chunks(records):
            # held: a write Marketo confirmed is recorded before Ctrl-C or SIGTERM is raised (a second undo would
            # subtract a score again), here and for the list and delete calls below
            with held():
                self._restore_batch(batch, by_lead)

    def _restore_batch(self, batch: Sequence[dict[str, Any]], by_lead: dict[int, list[UndoItem]]) -> None:
        rows = self.client.sync_leads(batch, action="updateOnly", lookup_field="id")
        restored: list[UndoItem] = []
        for record, row in positional(rows, batch):
            items = by_lead.get(int(record["id"]), [])
            if row is not None and row.get("status") == "updated":
                restored.extend(items)
            else:
                self._settle(items, "rejected", first_reason(row).describe())
        self._settle(restored, "restored")

    def membership(self, list_id: str, op: str, leads: Sequence[int]) -> None:
        """Add to or remove from one static list, 300 leads per call; already as asked counts as done."""
        reversing = "remove" if op == "add" else "add"  # the logged action these calls reverse
        by_lead: dict[int, list[UndoItem]] = {}
        for item in self._pending(lambda item: item.action == op and item.logged.change.target == list_id):
            by_lead.setdefault(item.lead_id or 0, []).append(item)
        for chunk in chunks(list(leads)):
            with held():
                self._membership_batch(list_id, op, reversing, list(chunk), by_lead)

    def _membership_batch(self, list_id: str, op: str, reversing: str, chunk: list[int],
                          by_lead: dict[int, list[UndoItem]]) -> None:
        call = self.client.add_to_list if op == "add" else self.client.remove_from_list
        answer = call(int(list_id), chunk)
        rows = {int(row["id"]): row for row in answer if row.get("id") is not None}
        done: list[UndoItem] = []
        for lead in chunk:
            row = rows.get(lead)
            if row is not None and row.get("status") in ("added", "removed"):
                done.extend(by_lead.get(lead, []))
            elif row is not None and record_bucket(row) == "unchanged":
                self._settle(by_lead.get(lead, []), "unchanged")
            else:
                reason = f"{op} list {list_id} (undoing a {reversing}): {first_reason(row).describe()}"
                self._settle(by_lead.get(lead, []), "rejected", reason)
        self._settle(done, "restored")

    def delete_leads(self) -> None:
        """Delete the leads the run created (--delete-created), 300 per call; a lead already gone is unchanged."""
        by_lead: dict[int, list[UndoItem]] = {}
        for item in self._pending(lambda item: item.action == "delete"):
            by_lead.setdefault(item.lead_id or 0, []).append(item)
        for chunk in chunks(self.plan.deletes):
            with held():
                self._delete_batch(list(chunk), by_lead)

    def _delete_batch(self, chunk: list[int], by_lead: dict[int, list[UndoItem]]) -> None:
        answer = self.client.delete_leads(chunk)
        rows = {int(row["id"]): row for row in answer if row.get("id") is not None}
        deleted: list[UndoItem] = []
        for lead in chunk:
            row: Any = rows.get(lead)
            if row is not None and row.get("status") == "deleted":
                deleted.extend(by_lead.get(lead, []))
            elif row is not None and record_bucket(row) == "not_found":
                self._settle(by_lead.get(lead, []), "unchanged")
            else:
                self._settle(by_lead.get(lead, []), "rejected", f"delete: {first_reason(row).describe()}")
        self._settle(deleted, "deleted")
