"""The reads an undo plans with: the current values of the fields a run changed, and list membership."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import MarketoError
from segmarketo_cli.jobs.batches import chunks
from segmarketo_cli.jobs.undo.plan import Reads

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient


def lead_values(client: MarketoClient, reads: Reads) -> dict[int, dict[str, Any]]:
    """Each lead's current values of the fields read (Get Leads by Filter on id, 300 per call); a lead Marketo no
    longer has is absent, a field it holds no value in is None."""
    if not reads.lead_fields:
        return {}
    names = sorted(set().union(*reads.lead_fields.values()))
    found: dict[int, dict[str, Any]] = {}
    for row in client.get_leads_by_filter("id", sorted(reads.lead_fields), fields=["id", *names]):
        if row.get("id") is not None:
            found[int(row["id"])] = {name: row.get(name) for name in names}
    return found


def list_membership(client: MarketoClient, reads: Reads) -> dict[tuple[str, int], bool | None]:
    """Whether each lead is in each list now (Member of List, 300 per call); None where Marketo skipped the lead
    or does not know the list."""
    found: dict[tuple[str, int], bool | None] = {}
    for list_id, leads in reads.list_leads.items():
        for chunk in chunks(sorted(leads)):
            rows: list[dict[str, Any]] = []
            try:
                if list_id.isdigit():
                    rows = client.list_ismember(int(list_id), list(chunk))
            except MarketoError as exc:
                if exc.code != "1013":  # list not found
                    raise
            status = {int(row["id"]): row.get("status") for row in rows if row.get("id") is not None}
            for lead in chunk:
                answer = status.get(lead)
                found[(list_id, lead)] = True if answer == "memberof" else False if answer == "notmemberof" else None
    return found
