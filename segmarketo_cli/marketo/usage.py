"""API usage counters: today's calls on the instance, all integrations included."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.marketo.base import ApiBase

# A subscription's daily API quota unless Adobe raised it; it resets at 00:00 America/Chicago
# (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/rest-api, "Daily Quota";
# https://experienceleague.adobe.com/en/docs/experience-cloud-kcs/kbarticles/ka-29461).
MARKETO_DAILY_QUOTA = 50_000


class UsageApi(ApiBase):
    """Usage endpoints of `MarketoClient`; they need no permission."""

    def usage_today(self) -> dict[str, Any]:
        """`{date, total, users[{userId, count}]}` for today; total 0 when Marketo has no row yet."""
        row = self.envelope("GET", "/rest/v1/stats/usage.json").first
        return row if row is not None else {"date": None, "total": 0, "users": []}
