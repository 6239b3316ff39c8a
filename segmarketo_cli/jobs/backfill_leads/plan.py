"""Pure backfill planner: people -> mapped leads -> unchanged-by-hash skipping -> field ownership -> upserts."""

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
from segmarketo_cli.mapping.mapper import FieldCatalog, Mapper
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
                    raise ConfigError(f"{where}: '{kind}' names '{name}', which is not a Marketo lead field")
        return cls(frozenset(fields.marketo_owned), frozenset(fields.fill_only), frozenset(fields.newer_only))

    @property
    def read_fields(self) -> frozenset[str]:
        """Fields whose current Marketo value must be read before writing."""
        return self.fill_only | self.newer_only


@dataclass(slots=True)
class Candidate:
    """A person ready to upsert: lookup key, fields (marketo_owned removed), content hash, cookies."""

    key: str
    fields: dict[str, Any]
    field_ts: dict[str, float]
    _hash: str | None
    origin: str
    cookies: list[str] = field(default_factory=list)

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
    code: str | None = None


@dataclass
class BackfillPlan:
    """What a backfill run will do: candidates split into upserts, unchanged and rejects, with counters."""

    upserts: list[Candidate] = field(default_factory=list)
    unchanged: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    fields_skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELD_KINDS, 0))
    fields_dropped: int = 0
    compliance_skipped: int = 0
    unmapped: dict[str, str] = field(default_factory=dict)  # trait path -> why it maps to no field, sorted

    @property
    def planned(self) -> int:
        return len(self.upserts) + len(self.unchanged) + len(self.rejects)

    def uses_bulk(self, threshold: int) -> bool:
        """Whether the writes go through Bulk Import: at least `threshold` leads to write."""
        return len(self.upserts) >= threshold


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


def map_people(people: Iterable[Person], mapper: Mapper, *, lookup_field: str, ownership: Ownership,
               plan: BackfillPlan) -> list[Candidate]:
    """Map every person; rejects (no key, invalid values, duplicate key) go to `plan.rejects`."""
    candidates: list[Candidate] = []
    first_origin: dict[str, str] = {}
    for person in people:
        mapped = mapper.map_person(person)
        plan.fields_dropped += len(mapped.dropped)
        plan.compliance_skipped += mapped.compliance_skipped
        key = lead_key(lookup_field, mapped.fields.get(lookup_field))
        if mapped.errors:
            reason = "; ".join(e.describe() for e in mapped.errors)
            plan.rejects.append(Reject(f"invalid value: {reason}", key, person.origin, _error_fields(mapped.errors)))
            continue
        if key is None:
            plan.rejects.append(Reject(f"no {lookup_field}", None, person.origin, _sample(person)))
            continue
        if key in first_origin:
            plan.rejects.append(Reject(f"duplicate {lookup_field} in input (also at {first_origin[key]})", key,
                                       person.origin))
            continue
        first_origin[key] = person.origin
        fields = mapped.fields  # the mapper's own dict: nobody else holds it
        if ownership.marketo_owned:
            fields = {k: v for k, v in fields.items() if k not in ownership.marketo_owned}
            plan.fields_skipped["marketo_owned"] += len(mapped.fields) - len(fields)
        if lookup_field == "email":
            fields["email"] = key  # the normalised address, so Marketo matches what the hashes are keyed by
        field_ts = mapped.field_ts if ownership.newer_only else {}  # only newer_only needs them
        candidates.append(Candidate(key, fields, field_ts, None, person.origin, list(person.cookies)))
    return candidates


def split_unchanged(candidates: list[Candidate], stored: dict[str, str], *, full: bool,
                    plan: BackfillPlan) -> list[Candidate]:
    """Candidates whose hash matches what Marketo last confirmed are unchanged (unless `full`)."""
    changed = []
    for candidate in candidates:
        seen = stored.get(candidate.key) if not full else None
        if seen is not None and seen == candidate.hash:
            plan.unchanged.append(candidate)
        else:
            changed.append(candidate)
    return changed


def needs_current(candidates: list[Candidate], ownership: Ownership) -> list[str]:
    """Keys whose fill_only / newer_only fields require reading the lead from Marketo first."""
    wanted = ownership.read_fields
    return [c.key for c in candidates if wanted & c.fields.keys()] if wanted else []


def apply_ownership(candidates: list[Candidate], current: dict[str, list[dict[str, Any]]], ownership: Ownership,
                    *, lookup_field: str, plan: BackfillPlan) -> None:
    """Drop fill_only fields Marketo already has and newer_only fields older than the lead's updatedAt."""
    for candidate in candidates:
        rows = current.get(candidate.key, [])
        if rows and ownership.read_fields & candidate.fields.keys():
            candidate.hash  # noqa: B018 - fixed before pruning: the hash is of the fields as planned
            updated = max((epoch_seconds(r.get("updatedAt")) or float("-inf") for r in rows), default=None)
            for name in list(candidate.fields):
                if name in ownership.fill_only and any(_filled(r.get(name)) for r in rows):
                    del candidate.fields[name]
                    plan.fields_skipped["fill_only"] += 1
                elif name in ownership.newer_only and updated is not None and \
                        candidate.field_ts.get(name, float("-inf")) <= updated:
                    del candidate.fields[name]
                    plan.fields_skipped["newer_only"] += 1
        if rows and set(candidate.fields) <= {lookup_field}:
            plan.unchanged.append(candidate)  # the lead exists and nothing is left to write
        else:
            plan.upserts.append(candidate)


StoredHashes = Callable[[list[str]], dict[str, str]]
ReadCurrent = Callable[[list[str], list[str]], dict[str, list[dict[str, Any]]]]


def build_plan(people: Iterable[Person], mapper: Mapper, *, lookup_field: str, ownership: Ownership,
               stored_hashes: StoredHashes, read_current: ReadCurrent, full: bool = False) -> BackfillPlan:
    """The whole plan. `stored_hashes(keys) -> {key: hash}` and `read_current(keys, fields) -> {key: [rows]}`
    are the only lookups (state store and Marketo reads); both are injected so this stays testable."""
    plan = BackfillPlan()
    candidates = map_people(people, mapper, lookup_field=lookup_field, ownership=ownership, plan=plan)
    stored = stored_hashes([c.key for c in candidates]) if not full else {}
    changed = split_unchanged(candidates, stored, full=full, plan=plan)
    keys = needs_current(changed, ownership)
    fields = sorted({lookup_field, "updatedAt", *ownership.fill_only})
    current = read_current(keys, fields) if keys else {}
    apply_ownership(changed, current, ownership, lookup_field=lookup_field, plan=plan)
    plan.unmapped = dict(sorted(mapper.unmapped.items()))
    return plan


def _filled(value: Any) -> bool:
    return value is not None and value != ""


def _error_fields(errors: list[Any]) -> dict[str, Any]:
    return {e.field: {"value": e.value, "trait": e.trait, "expected": e.expected} for e in errors}


def _sample(person: Person) -> dict[str, Any]:
    ids = {"userId": person.user_id, "anonymousId": person.anonymous_ids[0] if person.anonymous_ids else None}
    return {k: v for k, v in ids.items() if v}
