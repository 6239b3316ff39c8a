"""Smart campaigns: list them, and Request Campaign for ≤100 leads with optional My Tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segmarketo_cli.marketo.base import MAX_BATCH, MAX_CAMPAIGN_BATCH, ApiBase, check_batch, id_list


class CampaignsApi(ApiBase):
    """Campaign endpoints of `MarketoClient`."""

    def get_campaigns(self, name: str | None = None) -> list[dict[str, Any]]:
        """Campaigns `{id, name, type: batch|trigger, active, programId}`, optionally filtered by exact name."""
        params: dict[str, Any] = {"batchSize": MAX_BATCH}
        if name:
            params["name"] = name
        rows: list[dict[str, Any]] = []
        for page in self.paged("/rest/v1/campaigns.json", params):
            rows.extend(page)
        return rows

    def request_campaign(
        self,
        campaign_id: int,
        lead_ids: Sequence[int],
        tokens: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    ) -> list[dict[str, Any]]:
        """Run an active trigger campaign ('Campaign is Requested', source Web Service API) for ≤100 leads.

        `tokens` is `{"{{my.name}}": value}` or a list of `{name, value}`; at most 100.
        """
        check_batch(lead_ids, "request_campaign", MAX_CAMPAIGN_BATCH)
        if not lead_ids:
            return []
        body: dict[str, Any] = {"input": {"leads": [{"id": i} for i in id_list(lead_ids)]}}
        if tokens:
            pairs = (
                [{"name": k, "value": str(v)} for k, v in tokens.items()]
                if isinstance(tokens, Mapping)
                else [{"name": t["name"], "value": str(t["value"])} for t in tokens]
            )
            check_batch(pairs, "request_campaign tokens", MAX_CAMPAIGN_BATCH)
            body["input"]["tokens"] = pairs
        # once: a second request would send the campaign's e-mails twice
        return self.envelope("POST", f"/rest/v1/campaigns/{int(campaign_id)}/trigger.json", json=body,
                             once=True).result
