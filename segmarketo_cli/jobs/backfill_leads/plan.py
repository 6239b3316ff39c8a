"""The backfill planner's per-person logic: a person -> a candidate lead or a reject, its content hash, field
ownership pruning of one candidate. The set-level steps run on the engine (plan_table.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from segmarketo_cli.config.sections import FIELD_KINDS, FieldsSection
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.identity import Person, normalize_email
from segmarketo_cli.mapping.lead import MappedLead
from segmarketo_cli.mapping.mapper import FieldCatalog
from segmarketo_cli.state.change_log import UNKNOWN
from segmarketo_cli.suggest import did_you_mean
from segmarketo_cli.timeparse import epoch_seconds


@dataclass(frozen=True)
class Ownership:
    """`[fields]` of the profile: fields Marketo owns (never written), fill-only and newer-only fields."""

    marketo_owned: frozenset[str] = frozenset()
    fill_only: frozenset[str] = frozenset()
    newer_only: frozenset[str] = frozenset()

    @classmethod
    def of(cls, fields: FieldsSection, catalog: FieldCatalog, *, where: str = "[fields]") -> Ownership:
        """The profile's [fields] section (its shape checked when the settings loaded), every field it names known
        to Marketo (ConfigError naming `where` otherwise)."""
        for kind in FIELD_KINDS:
            for name in getattr(fields, kind):
                if catalog.get(name) is None:
                    raise ConfigError(f"{where}: '{kind}' names '{name}', which is not a Marketo lead field"
                                      f"{did_you_mean(name, catalog.fields)}")
        return cls(frozenset(fields.marketo_owned), frozenset(fields.fill_only), frozenset(fields.newer_only))

    @property
    def read_fields(self) -> frozenset[str]:
        """Fields whose current Marketo value decides whether they are written."""
        return self.fill_only | self.newer_only


@dataclass(slots=True)
class Candidate:
    """A person ready to upsert: lookup key, fields (marketo_owned removed), content hash, cookies; once settled
    (`look_up` in Marketo, or `recall` from the state store): whether the lead exists and its id, each written
    field's value before the write, and the fields field ownership kept from being written (`skipped`: kind, field,
    the value before, the input's)."""

    key: str
    fields: dict[str, Any]
    field_ts: dict[str, float]
    _hash: str | None
    origin: str
    cookies: list[str] = field(default_factory=list)
    owned: dict[str, Any] | None = None  # marketo_owned fields the input had, with the input's values
    exists: bool | None = None  # None: neither Marketo (not read) nor the state store knows the lead
    lead_id: int | None = None
    before: dict[str, Any] | None = None  # field -> value before the write (UNKNOWN when nobody knows)
    skipped: list[tuple[str, str, Any, Any]] = field(default_factory=list)

    @property
    def action(self) -> str:
        """create for a lead Marketo does not hold, update for one it holds or the state store knows, upsert (created
        or updated, nobody can say which before the write) for one neither was asked about or knows."""
        if self.exists is None:
            return "upsert"
        return "update" if self.exists else "create"

    @property
    def hash(self) -> str:
        """content_hash of the fields as planned (before ownership pruning), computed when first needed.

        A first run compares no hashes, so they are computed as confirmed writes are recorded, while the
        next Marketo calls are in flight, instead of holding up the plan.
        """
        if self._hash is None:
            self._hash = content_hash(self.fields)
        return self._hash


@dataclass
class Reject:
    """A person (or input line) that will not be written, and why."""

    reason: str
    key: str | None = None
    origin: str | None = None
    fields: dict[str, Any] | None = None


def lead_key(field_name: str, value: Any) -> str | None:
    """The normalised lookup value: e-mails trimmed and lower-cased; others as trimmed text."""
    if value is None:
        return None
    if field_name == "email":
        return normalize_email(value)
    text = str(value).strip()
    return text or None


# json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")) without building an
# encoder per call (the C encoder when this Python has it): the hashes stored by earlier runs stay valid.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
_C_ENCODER = c_make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True) \
    if c_make_encoder is not None else None


def content_hash(fields: dict[str, Any]) -> str:
    """A stable digest of the fields we would write (order-independent)."""
    blob = "".join(_C_ENCODER(fields, 0)) if _C_ENCODER is not None else _ENCODER.encode(fields)
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=16).hexdigest()


def plan_person(person: Person, mapped: MappedLead, *, lookup_field: str,
                ownership: Ownership) -> tuple[Candidate | Reject, int]:
    """One mapped person as a candidate, or as a reject (invalid values, no key), with how many fields
    marketo_owned removed. Duplicate keys are a set-level matter, found over the whole input afterwards."""
    key = lead_key(lookup_field, mapped.fields.get(lookup_field))
    if mapped.errors:
        reason = "; ".join(e.describe() for e in mapped.errors)
        return Reject(f"invalid value: {reason}", key, person.origin, _error_fields(mapped.errors)), 0
    if key is None:
        return Reject(f"no {lookup_field}", None, person.origin, _sample(person)), 0
    fields = mapped.fields  # the mapper's own dict: nobody else holds it
    owned: dict[str, Any] | None = None
    if ownership.marketo_owned:
        fields = {k: v for k, v in fields.items() if k not in ownership.marketo_owned}
        owned = {k: v for k, v in mapped.fields.items() if k in ownership.marketo_owned} or None
    if lookup_field == "email":
        fields["email"] = key  # the normalised address, so Marketo matches what the hashes are keyed by
    field_ts = mapped.field_ts if ownership.newer_only else {}  # only newer_only needs them
    return Candidate(key, fields, field_ts, None, person.origin, list(person.cookies), owned), len(owned or ())


@dataclass
class Pruned:
    """What ownership pruning did to one candidate: fields it removed by kind, and whether nothing is left."""

    fill_only: int = 0
    newer_only: int = 0
    unchanged: bool = False


def prune(candidate: Candidate, rows: list[dict[str, Any]], ownership: Ownership, *, lookup_field: str) -> Pruned:
    """Drop fill_only fields Marketo already has and newer_only fields older than the lead's updatedAt, given
    the lead's current `rows` (each noted in `candidate.skipped`); unchanged when the lead exists and nothing is
    left to write."""
    pruned = Pruned()
    if rows and ownership.read_fields & candidate.fields.keys():
        candidate.hash  # noqa: B018 - fixed before pruning: the hash is of the fields as planned
        updated = max((epoch_seconds(r.get("updatedAt")) or float("-inf") for r in rows), default=None)
        for name in list(candidate.fields):
            if name in ownership.fill_only and any(_filled(r.get(name)) for r in rows):
                kind = "skip-fill-only"
                pruned.fill_only += 1
            elif name in ownership.newer_only and updated is not None and \
                    candidate.field_ts.get(name, float("-inf")) <= updated:
                kind = "skip-older"
                pruned.newer_only += 1
            else:
                continue
            candidate.skipped.append((kind, name, rows[0].get(name), candidate.fields.pop(name)))
    pruned.unchanged = bool(rows) and set(candidate.fields) <= {lookup_field}
    return pruned


@dataclass(frozen=True)
class Known:
    """What the state store knows of a lead key: that an earlier run wrote it (change log, pushed hash or lead-id
    cache), its cached lead id, and the newest value a logged run wrote to each field."""

    lead_id: int | None = None
    values: dict[str, Any] = field(default_factory=dict)


def can_look_up(key: str) -> bool:
    """Whether Get Leads by filter can look `key` up: Marketo splits filterValues on commas."""
    return "," not in key


def needs_read(candidate: Candidate, ownership: Ownership, *, read_all: bool) -> bool:
    """Whether the plan reads `candidate`'s lead from Marketo: every lead with `read_all` (before_values =
    "marketo"), else only those with fill_only / newer_only fields to decide; never a key Marketo cannot filter on."""
    if not can_look_up(candidate.key):
        return False
    return read_all or not ownership.read_fields.isdisjoint(candidate.fields)


def lookup_fields(candidates: Iterable[Candidate], *, lookup_field: str, ownership: Ownership) -> list[str]:
    """What one Get Leads call reads for `candidates`: the id, the lookup field, updatedAt for newer_only, and
    every field they would write or that marketo_owned kept from them (their before-values)."""
    wanted = {"id", lookup_field}
    if ownership.newer_only:
        wanted.add("updatedAt")
    for candidate in candidates:
        wanted.update(candidate.fields)
        wanted.update(candidate.owned or ())
    return sorted(wanted)


def look_up(candidate: Candidate, rows: list[dict[str, Any]], ownership: Ownership, *, lookup_field: str) -> Pruned:
    """Settle `candidate` with the leads Marketo holds for its key (`rows`, [] for none): created or updated, the
    lead id, ownership pruning, and the before-value of every field written or kept by marketo_owned."""
    outcome = prune(candidate, rows, ownership, lookup_field=lookup_field)
    current = rows[0] if rows else {}
    candidate.exists = bool(rows)
    candidate.lead_id = _lead_id(current.get("id"))
    candidate.before = {name: current.get(name) for name in candidate.fields}
    candidate.skipped[:0] = [("skip-owned", name, current.get(name), value)
                             for name, value in (candidate.owned or {}).items()]
    return outcome


def recall(candidate: Candidate, known: Known | None) -> None:
    """Settle a candidate not read from Marketo with what the state store knows (`known`, None: nothing): a known
    key is an update (its cached lead id), each before-value the newest a logged run wrote, else UNKNOWN; an unknown
    key stays undecided (exists None: created unless Marketo already has it)."""
    values = known.values if known is not None else {}
    candidate.exists = True if known is not None else None
    candidate.lead_id = known.lead_id if known is not None else None
    candidate.before = {name: values.get(name, UNKNOWN) for name in candidate.fields}
    candidate.skipped[:0] = [("skip-owned", name, values.get(name, UNKNOWN), value)
                             for name, value in (candidate.owned or {}).items()]


StoredHashes = Callable[[list[str]], dict[str, str]]
ReadCurrent = Callable[[list[str], list[str]], dict[str, list[dict[str, Any]]]]
StoredLeads = Callable[[list[str], list[str]], dict[str, Known]]  # keys, fields -> what the state store knows


def settle_chunk(chunk: list[Candidate], *, read: bool, read_current: ReadCurrent, stored_leads: StoredLeads,
                 ownership: Ownership, lookup_field: str) -> list[Pruned]:
    """Settle a chunk of changed candidates the plan reads from Marketo (`read`: those `needs_read` picks) with one
    `read_current` call (Get Leads by filter, 300 keys a call: the id, the fields written and the fields ownership
    needs; `look_up`), or recalls from the state store with one `stored_leads` call (`recall`). What pruning did to
    each, in chunk order."""
    keys = [c.key for c in chunk]
    fields = lookup_fields(chunk, lookup_field=lookup_field, ownership=ownership)
    if read:
        current = read_current(keys, fields)
        return [look_up(c, current.get(c.key, []), ownership, lookup_field=lookup_field) for c in chunk]
    known = stored_leads(keys, fields)
    for candidate in chunk:
        recall(candidate, known.get(candidate.key))
    return [Pruned() for _ in chunk]


def no_stored_leads(keys: list[str], fields: list[str]) -> dict[str, Known]:
    """A state store that knows no lead (plans built without one)."""
    return {}


def _lead_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _filled(value: Any) -> bool:
    return value is not None and value != ""


def _error_fields(errors: list[Any]) -> dict[str, Any]:
    return {e.field: {"value": e.value, "trait": e.trait, "expected": e.expected} for e in errors}


def _sample(person: Person) -> dict[str, Any]:
    ids = {"userId": person.user_id, "anonymousId": person.anonymous_ids[0] if person.anonymous_ids else None}
    return {k: v for k, v in ids.items() if v}
