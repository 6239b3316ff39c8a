"""Programs: lookup by name or id, channels (valid statuses), Sync Program Member Status (≤300 leads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from segmarketo_cli.marketo.base import ApiBase, check_batch, id_list

PROGRAMS_PAGE = 200  # the asset API's largest maxReturn


class ProgramsApi(ApiBase):
    """Program endpoints of `MarketoClient`."""

    def find_program_by_name(self, name: str) -> dict[str, Any] | None:
        """The program with exactly this name, or None (asset API: a miss is a warning with no result)."""
        return self.envelope("GET", "/rest/asset/v1/program/byName.json", params={"name": name}).first

    def program_names(self) -> list[str]:
        """The name of every program (Get Programs, 200 per page by offset): what a mistyped program name is
        compared with (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/assets/programs)."""
        names: list[str] = []
        while True:
            page = self.envelope("GET", "/rest/asset/v1/programs.json",
                                 params={"offset": len(names), "maxReturn": PROGRAMS_PAGE}).result
            names.extend(str(row.get("name")) for row in page)
            if len(page) < PROGRAMS_PAGE:
                return names

    def get_program(self, program_id: int) -> dict[str, Any] | None:
        """The program record (`id, name, channel, type, ...`), or None."""
        return self.envelope("GET", f"/rest/asset/v1/program/{int(program_id)}.json").first

    def get_channel(self, name: str) -> dict[str, Any] | None:
        """The channel with its `progressionStatuses[{name, step, success}]`, or None."""
        return self.envelope("GET", "/rest/asset/v1/channel/byName.json", params={"name": name}).first

    def sync_program_member_status(
        self, program_id: int, status_name: str, lead_ids: Sequence[int]
    ) -> list[dict[str, Any]]:
        """Upsert ≤300 leads into `status_name`; rows carry `seq` (input index); 1037 means already there."""
        check_batch(lead_ids, "sync_program_member_status")
        if not lead_ids:
            return []
        body = {"statusName": status_name, "input": [{"leadId": i} for i in id_list(lead_ids)]}
        return self.envelope("POST", f"/rest/v1/programs/{int(program_id)}/members/status.json", json=body).result
