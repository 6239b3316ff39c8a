"""sync-audience against Marketo: find the list, read members, resolve people, guard, then write the diff."""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import ConfigError, MarketoError
from segmarketo_cli.jobs.batchpool import run_batches, workers_for
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.sync_audience.buckets import account_input, account_plan, finish
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, check_safety, plan_membership, plan_rows
from segmarketo_cli.marketo.bulk import EXTRACT_POLL_INTERVAL_S
from segmarketo_cli.marketo.lists import ListParent, list_parents
from segmarketo_cli.paths import open_private, write_failed
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, Identity
from segmarketo_cli.state import StateStore

log = logging.getLogger("segmarketo.audience")

BATCH = 300  # ids per list add/remove call and values per Get Leads by Filter call
BULK_CREATE_MIN = 1500  # at least this many new people: one Bulk Import instead of createOnly calls
EXTRACT_POLL_S = (EXTRACT_POLL_INTERVAL_S,)  # Adobe: poll an export's status at most once a minute
IMPORT_POLL_S = (2.0, 5.0, 10.0, 30.0)
POLL_TIMEOUT_S = 6 * 3600
REJECTED_BUCKETS = ("rejected", "create_failed", "add_failed", "remove_failed")


@dataclass
class SyncOptions:
    """Flags of one sync-audience run."""

    list_name: str | None = None
    list_id: int | None = None
    mode: str = "mirror"
    create_list: bool = False
    folder: str | None = None
    create_missing: bool = False
    max_removals: str | None = None
    force: bool = False
    extract_threshold: int = 50_000
    strict: bool = False
    plan_out: Path | None = None
    dry_run: bool = False
    user_field: str | None = None
    lookup_field: str = "email"
    bulk_row_field: str | None = None


class AudienceSync:
    """One run: every Marketo call of sync-audience goes through here, writes only after the guard."""

    def __init__(self, client: Any, store: StateStore, report: RunReport, rejects: RejectsWriter,
                 options: SyncOptions, *, sleep: Callable[[float], None] = time.sleep,
                 progress: Callable[[int, str], Any] | None = None) -> None:
        self.client, self.store, self.report, self.rejects = client, store, report, rejects
        self.opts = options
        self.sleep = sleep
        self.progress = progress or (lambda total, desc: _NoProgress())
        self.instance = client.instance
        self.list_id: int | None = None
        self.list_label = options.list_name or f"id {options.list_id}"
        self.folder: ListParent | None = None
        self._current: set[int] = set()

    # the run ------------------------------------------------------------------------------------------
    def run(self, audience: AudienceInput,
            on_plan: Callable[[ListMembershipPlan], None] | None = None) -> ListMembershipPlan:
        report = self.report
        report.rejected_buckets = REJECTED_BUCKETS
        account_input(self.report, self.rejects, audience)
        if self.opts.mode == "mirror" and not audience.people and not self.opts.force:
            check_safety(ListMembershipPlan(mode="mirror"), max_removals=self.opts.max_removals, force=False,
                         list_name=self.list_label)
        self._find_list()
        if self.opts.create_missing:
            self.client.partition_for_create()  # a misspelt partition: exit 2 before the list is written
        members = self._read_members(len(audience.people)) if self.list_id is not None else {}
        self._current = set(members)
        entering = [p for p in audience.people if p.member]
        resolved = self._resolve(entering, members)
        plan = plan_membership(audience.people, resolved, members, mode=self.opts.mode,
                               create_missing=self.opts.create_missing, user_field=self.opts.user_field)
        account_plan(self.report, plan, dry_run=self.opts.dry_run)
        if self.opts.plan_out is not None:
            write_plan(plan, self.opts.plan_out)
        if on_plan is not None:
            on_plan(plan)
        check_safety(plan, max_removals=self.opts.max_removals, force=self.opts.force, list_name=self.list_label)
        if not self.opts.dry_run:
            if len(plan.to_create) >= BULK_CREATE_MIN and self.opts.bulk_row_field:
                self._check_row_field()
            self._apply(plan)
        finish(self.report, plan, self.opts, list_id=self.list_id, list_label=self.list_label)
        return plan

    def _check_row_field(self) -> None:
        """bulk_row_field must name a scratch field Marketo has (Describe, cached a day), before any write."""
        from segmarketo_cli.jobs.bulk_import.reports import check_row_field
        from segmarketo_cli.mapping.mapper import load_catalog

        check_row_field(load_catalog(self.client, self.store), self.opts.bulk_row_field,
                        lookup_field=self.opts.lookup_field, mapped=[self.opts.user_field or ""])

    # the list -----------------------------------------------------------------------------------------
    def _find_list(self) -> None:
        client, opts = self.client, self.opts
        if opts.list_id is not None:
            found = client.get_list(opts.list_id)
            if found is None:
                raise ConfigError(f"static list id {opts.list_id} not found in Marketo")
            self.list_id, self.list_label = int(found["id"]), str(found.get("name") or self.list_label)
            return
        found = client.find_list_by_name(opts.list_name)
        if found is not None and found.get("name") == opts.list_name:
            self.list_id = int(found["id"])
            return
        if not opts.create_list:
            raise ConfigError(f"static list '{opts.list_name}' not found in Marketo",
                              hint="check the exact name, or pass --create-list --folder NAME")
        self.folder = self._find_folder(opts.folder or "")
        self.report.notes.append(f"list '{opts.list_name}' does not exist; "
                                 + ("it would be created" if opts.dry_run else "creating it"))

    def _find_folder(self, folder: str) -> ListParent:
        """The marketing folder or program --folder names: folder:N / program:N, a full path, or an exact name."""
        given = parse_folder_option(folder)
        if given is not None:
            return given
        path = folder.rstrip("/") if folder.startswith("/") else None
        name = path.rsplit("/", 1)[-1] if path else folder
        usable, other = list_parents(self.client.find_folders_by_name(name), name)
        if path is not None:
            usable = [p for p in usable if p.path.rstrip("/") == path]
        if not usable:
            kinds = sorted({str(row.get("folderType")) for row in other})
            if other and path is None:
                raise ConfigError(f"folder '{folder}' cannot hold a static list (it is a {', '.join(kinds)} folder)",
                                  hint="name a marketing folder or a program (Marketing Activities)")
            raise ConfigError(f"folder '{folder}' not found in Marketo",
                              hint="give the exact name or full path of a marketing folder or program")
        if len(usable) > 1:
            where = "; ".join(f"{p.type.lower()} {p.id} at {p.path or '?'}" for p in usable)
            choices = " or ".join(f"--folder {p.option}" for p in usable)
            raise ConfigError(f"folder name '{folder}' is ambiguous, {len(usable)} matches: {where}",
                              hint=f"pass {choices}, or the full path, e.g. --folder '{usable[0].path}'")
        return usable[0]

    def _create_list(self) -> None:
        folder = self.folder
        assert folder is not None  # _find_list set it before planning
        try:
            created = self.client.create_list(self.opts.list_name, folder.id, folder_type=folder.type)
        except MarketoError as exc:
            if exc.code in ("710", "711"):
                raise ConfigError(f"cannot create list '{self.opts.list_name}' in {folder.type.lower()} {folder.id}:"
                                  f" {exc.marketo_message} (Marketo {exc.code})",
                                  hint="--folder folder:N is a marketing folder id, program:N a program id; "
                                       "or give the folder's name or full path") from None
            if exc.code not in ("709", "1017"):
                raise
            created = self.client.find_list_by_name(self.opts.list_name)  # created meanwhile by someone else
            if created is None:
                raise
        self.list_id = int(created["id"])
        self.report.notes.append(f"created list '{self.opts.list_name}' (id {self.list_id})")

    # members ------------------------------------------------------------------------------------------
    def _member_fields(self) -> list[str]:
        fields = ["id", "email"]
        for extra in (self.opts.user_field, self.opts.lookup_field):
            if extra and extra not in fields:
                fields.append(extra)
        return fields

    def _read_members(self, people: int) -> dict[int, dict[str, Any]]:
        """Page the list, or one Bulk Lead Extract when it is probably above --extract-threshold.

        Marketo gives no member count up front: the estimate is the size seen on the last run, or in mirror
        mode the audience size (the list is about to match it).
        """
        size_key = f"audience:list-size:{self.list_id}"
        known = int(self.store.cache_get(self.instance, size_key) or 0)
        estimate = max(known, people if self.opts.mode == "mirror" else 0)
        if estimate > self.opts.extract_threshold:
            rows = self._extract_members()
            self.report.details["membership_read"] = "bulk extract"
        else:
            rows = self.client.iter_list_members(self.list_id, fields=self._member_fields())
            self.report.details["membership_read"] = "paging"
        members = {int(row["id"]): row for row in rows if str(row.get("id") or "").isdigit()}
        self.store.cache_put(self.instance, size_key, len(members), ttl_s=30 * 86400)
        return members

    def _extract_members(self) -> Iterable[dict[str, Any]]:
        client = self.client
        export_id = client.bulk_extract_create("leads", fields=self._member_fields(),
                                               filter={"staticListId": self.list_id})
        try:
            client.bulk_extract_enqueue("leads", export_id)
            status = self.poll(lambda: client.bulk_extract_status("leads", export_id), EXTRACT_POLL_S,
                               done=("Completed",))
            if status.get("status") != "Completed":
                raise MarketoError("", f"membership extract {export_id} ended as {status.get('status')}")
            data = client.bulk_extract_download("leads", export_id, status.get("fileChecksum"))
        except BaseException:
            try:
                client.bulk_extract_cancel("leads", export_id)
            except Exception:  # the original error matters more than a failed cancel
                log.warning("could not cancel export %s", export_id)
            raise
        log.info("membership extract %s: %s records", export_id, status.get("numberOfRecords"))
        return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))

    def poll(self, status: Callable[[], dict[str, Any]], waits: Sequence[float], *,
             done: tuple[str, ...]) -> dict[str, Any]:
        """Call `status` until the job is done or failed, sleeping `waits` in turn (the last one repeats)."""
        started = time.monotonic()
        attempt = 0
        while True:
            row = status()
            state = str(row.get("status"))
            if state in done or state in ("Failed", "Cancelled", "Canceled"):
                return row
            if time.monotonic() - started > POLL_TIMEOUT_S:
                raise MarketoError("", f"bulk job still {state} after {POLL_TIMEOUT_S // 3600} h")
            self.sleep(waits[min(attempt, len(waits) - 1)])
            attempt += 1

    # identities ---------------------------------------------------------------------------------------
    def field_for(self, kind: str) -> str | None:
        return "email" if kind == "email" else (self.opts.user_field if kind == "userId" else None)

    def _resolve(self, people: Sequence[AudiencePerson],
                 members: dict[int, dict[str, Any]]) -> dict[Identity, list[int]]:
        """Lead ids per identity: the lead-id cache first, then Get Leads by Filter for the rest."""
        wanted: dict[str, list[str]] = {}
        for person in people:
            for identity in person.identities:
                field_name = self.field_for(identity.kind)
                if field_name:
                    wanted.setdefault(identity.kind, []).append(identity.value)
        resolved: dict[Identity, list[int]] = {}
        for kind, values in wanted.items():
            field_name = self.field_for(kind) or ""
            values = list(dict.fromkeys(values))
            cached = self.store.lead_ids_for(self.instance, field_name, values)
            for value, ids in cached.items():
                stale = any(i in members and _norm(members[i].get(field_name), kind) != value for i in ids)
                if not stale:  # a cached lead now in the list under another value means the cache is old
                    resolved[Identity(kind, value)] = ids
            missing = [v for v in values if Identity(kind, v) not in resolved]
            self.report.details.setdefault("resolution", {})[kind] = {"cached": len(values) - len(missing),
                                                                      "looked_up": len(missing)}
            resolved.update(self.lookup(kind, missing))
        return resolved

    def lookup(self, kind: str, values: Sequence[str]) -> dict[Identity, list[int]]:
        """Lead ids per value, 300 values per call, calls run concurrently under the client's limiter."""
        field_name = self.field_for(kind) or ""
        found: dict[str, list[int]] = {}
        bar = self.progress(len(values), f"looking up {kind}s")
        chunks = [values[start:start + BATCH] for start in range(0, len(values), BATCH)]

        def call(chunk: Sequence[str]) -> list[dict[str, Any]]:
            return self.client.get_leads_by_filter(field_name, chunk, fields=["id", field_name])

        for chunk, rows in run_batches(call, chunks, workers_for(self.client)):
            hits: dict[str, list[int]] = {}
            for row in rows:  # mapped by the returned value, never by position
                value = _norm(row.get(field_name), kind)
                if value is not None and row.get("id") is not None:
                    hits.setdefault(value, []).append(int(row["id"]))
            self.store.remember_lead_ids(self.instance, field_name, [(v, sorted(set(i))) for v, i in hits.items()])
            for value, ids in hits.items():
                found.setdefault(value, []).extend(ids)
            bar.update(len(chunk))
        bar.close()
        return {Identity(kind, v): sorted(set(ids)) for v, ids in found.items()}

    # writes -------------------------------------------------------------------------------------------
    def _apply(self, plan: ListMembershipPlan) -> None:
        if not plan.changes and self.list_id is not None:
            return
        if self.list_id is None:
            self._create_list()
        adds = list(plan.adds)
        if plan.to_create:
            adds.extend(self._create_people(plan))
        self._add(plan, adds, retry_stale=True)
        self._remove(plan)

    def _create_people(self, plan: ListMembershipPlan) -> list[int]:
        """Create leads for people not in Marketo; returns ids still to add (Bulk Import adds its own)."""
        from segmarketo_cli.jobs.sync_audience.execute_create import create_people

        return create_people(self, plan.to_create)

    def _add(self, plan: ListMembershipPlan, ids: Sequence[int], *, retry_stale: bool) -> None:
        stale: list[int] = []
        bar = self.progress(len(ids), "adding to list")
        batches = [list(ids[start:start + BATCH]) for start in range(0, len(ids), BATCH)]
        for batch, rows in run_batches(lambda b: self.client.add_to_list(self.list_id, b), batches,
                                       workers_for(self.client)):
            results = _by_id(rows)
            _log_batch("add_to_list", self.list_id, batch, results)
            for lead_id in batch:
                row = results.get(lead_id)
                code = _code(row)
                if row is not None and row.get("status") == "added":
                    self.report.add("added")
                elif code == "1004":
                    stale.append(lead_id)
                else:
                    self._write_failed("add_failed", lead_id, row)
            bar.update(len(batch))
        bar.close()
        if stale and retry_stale:
            stale = self._refresh_stale(plan, stale)
        self.report.add("not_found", len(stale))
        if stale:
            log.info("%d lead ids no longer exist (1004), skipped: %s", len(stale), stale[:20])

    def _refresh_stale(self, plan: ListMembershipPlan, stale: list[int]) -> list[int]:
        """Leads gone since they were cached (merged, deleted): look their people up again, add what is new."""
        people = {id(p): p for i in stale for p in plan.owners.get(i, [])}
        identities = [ident for p in people.values() for ident in p.identities if self.field_for(ident.kind)]
        for kind in {i.kind for i in identities}:
            self.store.forget_lead_ids(self.instance, self.field_for(kind) or "",
                                       [i.value for i in identities if i.kind == kind])
        fresh: set[int] = set()
        for kind in {i.kind for i in identities}:
            for ids in self.lookup(kind, [i.value for i in identities if i.kind == kind]).values():
                fresh.update(ids)
        new = sorted(fresh - set(plan.owners))
        for lead_id in new:
            plan.owners[lead_id] = []
            if lead_id in plan.removes:  # was going to be removed, but belongs to the audience after all
                plan.removes.remove(lead_id)
                self.report.add("unchanged")
            elif lead_id in self._current:
                self.report.add("unchanged")
                self.report.add("kept", -1)
        self.report.add("audience_leads", len(new))
        to_add = [i for i in new if i not in self._current]
        self._add(plan, to_add, retry_stale=False)
        return stale  # every id that answered 1004 is not found, whatever replaced it

    def _remove(self, plan: ListMembershipPlan) -> None:
        bar = self.progress(len(plan.removes), "removing from list")
        batches = [plan.removes[start:start + BATCH] for start in range(0, len(plan.removes), BATCH)]
        for batch, rows in run_batches(lambda b: self.client.remove_from_list(self.list_id, b), batches,
                                       workers_for(self.client)):
            results = _by_id(rows)
            _log_batch("remove_from_list", self.list_id, batch, results)
            for lead_id in batch:
                row = results.get(lead_id)
                if row is not None and row.get("status") == "removed":
                    self.report.add("removed")
                elif _code(row) in ("1015", "1004"):
                    self.report.add("already_absent")
                else:
                    self._write_failed("remove_failed", lead_id, row)
            bar.update(len(batch))
        bar.close()

    def _write_failed(self, bucket: str, lead_id: int, row: dict[str, Any] | None) -> None:
        self.report.add(bucket)
        reason = _reason(row) if row is not None else "no result for this id in Marketo's reply"
        self.rejects.write(reason, lead_id=lead_id, action=bucket.split("_")[0])

class _NoProgress:
    """Stands in for a progress bar when the caller gave none."""

    def update(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


def _log_batch(call: str, list_id: Any, batch: Sequence[int], results: dict[int, dict[str, Any]]) -> None:
    """One INFO line per list call (for --log-file): ids sent and Marketo's statuses."""
    statuses = Counter(str(row.get("status")) for row in results.values())
    log.info("%s list %s: %d leads, %s", call, list_id, len(batch),
             ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no result rows",
             extra={"data": {"event": "batch", "call": call, "list_id": list_id, "records": len(batch),
                             **statuses}})


def write_plan(plan: ListMembershipPlan, path: Path) -> None:
    """Every intended create, add and remove as CSV."""
    columns = ["action", "lead_id", "identity_type", "identity", "reason", "origin"]
    handle = open_private(path, "--plan-out", newline="")  # the plan names people by e-mail address
    try:
        with handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(plan_rows(plan))
    except OSError as exc:
        raise write_failed("--plan-out", path, exc) from None


def parse_folder_option(value: str) -> ListParent | None:
    """--folder folder:N (or the older id:N) and program:N; None for a name or path."""
    kind, sep, number = value.partition(":")
    types = {"id": "Folder", "folder": "Folder", "program": "Program"}
    if sep and kind.strip().lower() in types and number.strip().isdigit():
        return ListParent(int(number), types[kind.strip().lower()])
    return None


def _norm(value: Any, kind: str) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text.lower() if kind == "email" else text


def _by_id(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(r["id"]): r for r in rows if isinstance(r, dict) and str(r.get("id", "")).isdigit()}


def _code(row: dict[str, Any] | None) -> str | None:
    reasons = (row or {}).get("reasons") or []
    return str(reasons[0].get("code")) if reasons and isinstance(reasons[0], dict) else None


def _reason(row: dict[str, Any]) -> str:
    reasons = row.get("reasons") or []
    if reasons and isinstance(reasons[0], dict):
        return f"Marketo {reasons[0].get('code')}: {reasons[0].get('message', '')}".strip()
    return f"unexpected status '{row.get('status')}'"
