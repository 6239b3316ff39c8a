"""What the state store knows of the leads a backfill writes without reading them from Marketo: whether an earlier
run wrote the key, its cached lead id and the newest value a logged run wrote per field (docs/backfill-leads.md,
"Before-values and the change log")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmarketo_cli.jobs.backfill_leads.plan import Known, StoredLeads

if TYPE_CHECKING:
    from segmarketo_cli.state import StateStore


def stored_leads(store: StateStore, instance: str, lookup_field: str) -> StoredLeads:
    """plan.StoredLeads over the state store of `instance`: a key is known when the change log holds a create or
    update of it, Marketo confirmed a write of it (pushed hash) or its lead id is cached. Three indexed reads per
    chunk of keys, no call to Marketo."""

    def known(keys: list[str], fields: list[str]) -> dict[str, Known]:
        ids = store.lead_ids_for(instance, lookup_field, keys)
        values = store.change_log.last_values(instance, keys, [*fields, lookup_field])
        hashed = store.pushed_hashes(instance, lookup_field, keys)
        return {key: Known(min(ids[key]) if ids.get(key) else None, values.get(key, {}))
                for key in keys if key in ids or key in values or key in hashed}

    return known
