"""API usage counters: today's calls on the instance, all integrations included."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.marketo.base import ApiBase


class UsageApi(ApiBase):
    """Usage endpoints of `MarketoClient`; they need no permission."""

    def usage_today(self) -> dict[str, Any]:
        """`{date, total, users[{userId, count}]}` for today; total 0 when Marketo has no row yet."""
        row = self.envelope("GET", "/rest/v1/stats/usage.json").first
        return row if row is not None else {"date": None, "total": 0, "users": []}
