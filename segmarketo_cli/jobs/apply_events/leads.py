"""Who a matched event belongs to in Marketo: person -> lookup value -> lead ids (cache, then Get Leads by Filter)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.identity import Person, normalize_email
from segmarketo_cli.jobs.batches import chunks, first_reason, positional
from segmarketo_cli.jobs.interrupts import held
from segmarketo_cli.mapping.mapper import Mapper
from segmarketo_cli.state import StateStore

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient


@dataclass
class LeadIndex:
    """Lead ids per lookup value, field values read along the way, and lookup values Marketo does not know."""

    ids: dict[str, tuple[int, ...]] = field(default_factory=dict)
    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    key_of: dict[int, str] = field(default_factory=dict)
    fetched: dict[int, frozenset[str]] = field(default_factory=dict)  # fields asked for (absent = null)
    reasons: dict[str, str] = field(default_factory=dict)  # lookup value -> why it has no lead

    def add_created(self, key: str, lead_id: int, known: frozenset[str] = frozenset()) -> None:
        """A lead this run creates (a negative placeholder id in a dry run): fields in `known` are known to be
        empty (Marketo just created the lead), the others are read before a write like any lead's."""
        self.ids[key] = (lead_id,)
        self.key_of[lead_id] = key
        self.fetched[lead_id] = known
        self.values[lead_id] = {}


class LeadResolver:
    """Turns people into Marketo lead ids using the profile's lookup field, as backfill-leads does."""

    def __init__(self, client: MarketoClient, store: StateStore, *, lookup_field: str = "email",
                 user_id_field: str | None = None, mapper: Mapper | None = None) -> None:
        self.client = client
        self.store = store
        self.instance = client.instance
        self.lookup_field = lookup_field
        self.user_id_field = user_id_field
        self.mapper = mapper
        self._mapped: dict[int, Any] = {}
        self.calls: dict[str, int] = {}

    def _count(self, kind: str, before: int) -> None:
        used = self.client.calls - before
        if used:
            self.calls[kind] = self.calls.get(kind, 0) + used

    # lookup values ------------------------------------------------------------------------------
    def key_for(self, who: str, person: Person | None) -> tuple[str | None, str | None]:
        """(lookup value, None) or (None, reason) for the person behind identifier node `who`."""
        kind, _, ident = who.partition(":")
        if self.lookup_field == "email":
            email = None
            if person is not None:
                email = normalize_email(person.value("email")) or (person.emails[-1] if person.emails else None)
            elif kind == "e":
                email = ident
            if email:
                return email, None
        elif self.lookup_field == self.user_id_field and (person is not None and person.user_id or kind == "u"):
            return (person.user_id if person is not None and person.user_id else ident), None
        elif person is not None and self.mapper is not None:
            mapped = self._mapped.get(id(person))
            if mapped is None:
                mapped = self._mapped[id(person)] = self.mapper.map_person(person).fields
            value = mapped.get(self.lookup_field)
            if value not in (None, ""):
                return str(value).strip(), None
        label = {"u": "userId", "a": "anonymousId", "e": "e-mail"}.get(kind, "id")
        if person is None and kind == "a":
            return None, f"anonymous person (anonymousId {ident}) never identified or aliased in this export"
        return None, f"no {self.lookup_field} known for the person with {label} {ident}"

    def email_of(self, who: str, person: Person | None) -> str | None:
        if person is not None:
            return normalize_email(person.value("email")) or (person.emails[-1] if person.emails else None)
        kind, _, ident = who.partition(":")
        return ident if kind == "e" else None

    def normalize(self, value: Any) -> str:
        text = str(value).strip()
        return text.lower() if self.lookup_field == "email" else text

    # Marketo ------------------------------------------------------------------------------------
    def resolve(self, keys: Iterable[str], read_fields: Sequence[str] = ()) -> LeadIndex:
        """Lead ids for each lookup value: the state store's cache first, then Get Leads by Filter (300 a call).

        Leads found by the filter come back with `read_fields`, so they need no second read.
        """
        index = LeadIndex()
        wanted = list(dict.fromkeys(keys))
        cached = self.store.lead_ids_for(self.instance, self.lookup_field, wanted)
        for key, ids in cached.items():
            index.ids[key] = tuple(sorted(ids))
        misses = [k for k in wanted if k not in cached]
        if misses:
            fields = list(dict.fromkeys(["id", self.lookup_field, *read_fields]))
            before = self.client.calls
            rows = self.client.get_leads_by_filter(self.lookup_field, misses, fields)
            self._count("lead_lookup", before)
            found: dict[str, list[int]] = {}
            for row in rows:
                if row.get("id") is None or row.get(self.lookup_field) is None:
                    continue
                lead_id = int(row["id"])
                found.setdefault(self.normalize(row[self.lookup_field]), []).append(lead_id)
                index.values[lead_id] = row
                index.fetched[lead_id] = frozenset(fields)
            for key in misses:
                if key in found:
                    index.ids[key] = tuple(sorted(set(found[key])))
                else:
                    index.missing.add(key)
            if found:
                self.store.remember_lead_ids(self.instance, self.lookup_field,
                                             [(k, list(index.ids[k])) for k in found if k in index.ids])
        for key, found_ids in index.ids.items():
            for lead_id in found_ids:
                index.key_of[lead_id] = key
        return index

    def read(self, lead_ids: Sequence[int], fields: Sequence[str], index: LeadIndex) -> None:
        """Current values of `fields` for leads whose values were not read yet (Get Leads by Filter on id): the
        base of each score and the before-value of each field a write changes."""
        need = frozenset(fields)
        wanted = [i for i in dict.fromkeys(lead_ids) if not need <= index.fetched.get(i, frozenset())]
        if not wanted or not fields:
            return
        before = self.client.calls
        rows = self.client.get_leads_by_filter("id", wanted, list(dict.fromkeys(["id", *fields])))
        self._count("value_read", before)
        for row in rows:
            if row.get("id") is not None:
                lead_id = int(row["id"])
                index.values[lead_id] = {**index.values.get(lead_id, {}), **row}
                index.fetched[lead_id] = index.fetched.get(lead_id, frozenset()) | need

    def create(self, records: dict[str, str | None], created: dict[str, int],
               on_created: Callable[[list[tuple[str, int]]], None] | None = None) -> dict[str, str]:
        """Create leads for lookup values Marketo does not know ({value: email}): their ids go into `created` call
        by call (so an interrupted run still has the ones Marketo confirmed); the reasons by value of the others.
        `on_created` gets each call's (value, lead id) pairs Marketo reported as created (not updated)."""
        failed: dict[str, str] = {}
        for chunk in chunks(list(records.items())):
            rows = []
            for key, email in chunk:
                row: dict[str, Any] = {self.lookup_field: key}
                if email and self.lookup_field != "email":
                    row["email"] = email
                rows.append(row)
            with held():  # Ctrl-C or SIGTERM: the leads Marketo created are recorded before it is raised
                before = self.client.calls
                results = self.client.sync_leads(rows, action="createOrUpdate", lookup_field=self.lookup_field)
                self._count("lead_create", before)
                new: list[tuple[str, int]] = []
                ids: list[tuple[str, list[int]]] = []
                for (key, _), result in positional(results, chunk):
                    if result is not None and result.get("id") is not None \
                            and result.get("status") in ("created", "updated"):
                        created[key] = int(result["id"])
                        ids.append((key, [created[key]]))
                        if result["status"] == "created":
                            new.append((key, created[key]))
                    else:
                        failed[key] = first_reason(result).describe()
                if new and on_created is not None:
                    on_created(new)
                if ids:
                    self.store.remember_lead_ids(self.instance, self.lookup_field, ids)
        return failed

    def forget(self, keys: Iterable[str]) -> None:
        """Drop cached ids Marketo no longer knows (1004 on write), so the next run looks them up again."""
        self.store.forget_lead_ids(self.instance, self.lookup_field, list(keys))

