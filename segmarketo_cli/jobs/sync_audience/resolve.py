"""People -> lead ids: the state store's lead-id cache first, then Get Leads by Filter (reads only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.batchpool import run_batches, workers_for
from segmarketo_cli.sources.audience.readers import AudiencePerson, Identity

if TYPE_CHECKING:
    from segmarketo_cli.jobs.sync_audience.session import SyncSession


def resolve(session: SyncSession, people: Sequence[AudiencePerson],
            members: Mapping[int, Mapping[str, Any]]) -> dict[Identity, list[int]]:
    """Lead ids per identity: the lead-id cache first, then Get Leads by Filter for the rest."""
    wanted: dict[str, list[str]] = {}
    for person in people:
        for identity in person.identities:
            if session.field_for(identity.kind):
                wanted.setdefault(identity.kind, []).append(identity.value)
    resolved: dict[Identity, list[int]] = {}
    for kind, values in wanted.items():
        field_name = session.field_for(kind) or ""
        values = list(dict.fromkeys(values))
        cached = session.store.lead_ids_for(session.instance, field_name, values)
        for value, ids in cached.items():
            stale = any(i in members and normalise(members[i].get(field_name), kind) != value for i in ids)
            if not stale:  # a cached lead now in the list under another value means the cache is old
                resolved[Identity(kind, value)] = ids
        missing = [v for v in values if Identity(kind, v) not in resolved]
        session.report.details.setdefault("resolution", {})[kind] = {"cached": len(values) - len(missing),
                                                                     "looked_up": len(missing)}
        resolved.update(lookup(session, kind, missing))
    return resolved


def lookup(session: SyncSession, kind: str, values: Sequence[str]) -> dict[Identity, list[int]]:
    """Lead ids per value, one filter call per batch of values, calls run concurrently under the client's limiter;
    the ids found are remembered in the lead-id cache."""
    field_name = session.field_for(kind) or ""
    found: dict[str, list[int]] = {}

    def call(chunk: Sequence[str]) -> list[dict[str, Any]]:
        return session.client.get_leads_by_filter(field_name, chunk, fields=["id", field_name])

    with session.progress(len(values), f"looking up {kind}s") as bar:
        for chunk, rows in run_batches(call, session.batches(values), workers_for(session.client)):
            hits: dict[str, list[int]] = {}
            for row in rows:  # mapped by the returned value, never by position
                value = normalise(row.get(field_name), kind)
                if value is not None and row.get("id") is not None:
                    hits.setdefault(value, []).append(int(row["id"]))
            session.store.remember_lead_ids(session.instance, field_name,
                                            [(v, sorted(set(i))) for v, i in hits.items()])
            for value, ids in hits.items():
                found.setdefault(value, []).extend(ids)
            bar.update(len(chunk))
    return {Identity(kind, v): sorted(set(ids)) for v, ids in found.items()}


def normalise(value: Any, kind: str) -> str | None:
    """A field value as the audience readers normalise identities: trimmed, e-mails lower-cased; None for blank."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text.lower() if kind == "email" else text
