"""Lead database calls: Sync Leads, Get Leads by Filter (chunked, paged), Delete Leads, Describe, Associate Lead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segmarketo_cli.marketo.base import MAX_BATCH, ApiBase, check_batch, id_list

SYNC_ACTIONS = ("createOrUpdate", "createOnly", "updateOnly", "createDuplicate")
# Actions that take partitionName (Adobe, Sync Leads: "works only when action is createOnly or createOrUpdate").
PARTITION_ACTIONS = ("createOrUpdate", "createOnly")
SYNC_TIMEOUT_S = 100.0  # Sync Leads may take up to 90 s server-side


class LeadsApi(ApiBase):
    """Lead endpoints of `MarketoClient`
    (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/leads)."""

    def sync_leads(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        action: str = "createOrUpdate",
        lookup_field: str = "email",
        partition_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Upsert up to 300 leads; one result row per input record, in input order (Marketo's positional reply).

        createOrUpdate / createOnly send `partition_name`, else the client's `partition_name` (see
        `partition_for_create`); other actions never send one.
        """
        check_batch(records, "sync_leads")
        if action not in SYNC_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(SYNC_ACTIONS)}")
        if not records:
            return []
        body: dict[str, Any] = {"action": action, "lookupField": lookup_field, "input": [dict(r) for r in records]}
        partition = self.partition_for_create(partition_name) if action in PARTITION_ACTIONS else None
        if partition:
            body["partitionName"] = partition
        env = self.envelope("POST", "/rest/v1/leads.json", json=body, timeout=self._long_timeout(SYNC_TIMEOUT_S))
        return env.result

    def get_lead_partitions(self) -> list[dict[str, Any]]:
        """The instance's lead partitions: rows `{id, name, description}` (Get Lead Partitions)."""
        return self.envelope("GET", "/rest/v1/leads/partitions.json").result

    def get_leads_by_filter(
        self, filter_type: str, values: Sequence[str | int], fields: Sequence[str] = ("id", "email")
    ) -> list[dict[str, Any]]:
        """Every lead matching any of `values` (one row per duplicate), 300 values per call, each call paged.

        Values must not contain commas (Marketo splits `filterValues` on them); long URLs go as POST ?_method=GET.
        """
        rows: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(str(v) for v in values))
        for value in unique:
            if "," in value:
                raise ValueError(f"filter value {value!r} contains a comma, which Marketo cannot filter on")
        for start in range(0, len(unique), MAX_BATCH):
            chunk = unique[start : start + MAX_BATCH]
            params = {
                "filterType": filter_type,
                "filterValues": ",".join(chunk),
                "fields": ",".join(fields),
                "batchSize": MAX_BATCH,
            }
            for page in self.paged("/rest/v1/leads.json", params):
                rows.extend(page)
        return rows

    def delete_leads(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Delete ≤300 leads by id (Delete Leads, POST /rest/v1/leads/delete.json); rows `{id, status: deleted}` or
        `{id, status: skipped, reasons}` (1004: no such lead). Deleting a lead loses its activity history.
        https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/leads#delete"""
        check_batch(ids, "delete_leads")
        if not ids:
            return []
        body = {"input": [{"id": i} for i in id_list(ids)]}
        return self.envelope("POST", "/rest/v1/leads/delete.json", json=body).result

    def describe_leads(self) -> list[dict[str, Any]]:
        """Describe Lead: one item per field, with `rest.name`, `dataType`, `length`, `rest.readOnly`."""
        return self.envelope("GET", "/rest/v1/leads/describe.json").result

    def describe_leads2(self) -> dict[str, Any]:
        """Describe Lead2: `{name, searchableFields, fields}`."""
        return self.envelope("GET", "/rest/v1/leads/describe2.json").first or {}

    def associate_lead(self, lead_id: int, cookie: str) -> None:
        """Tie a Munchkin `_mkto_trk` cookie to a known lead (one cookie per call)."""
        self.envelope("POST", f"/rest/v1/leads/{int(lead_id)}/associate.json", params={"cookie": cookie})
