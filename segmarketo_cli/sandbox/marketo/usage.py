"""Usage statistics: stats/usage.json (today), usage/last7days.json and stats/errors.json."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from segmarketo_cli.sandbox.envelope import Request, Response, ok
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo.limits import quota_day

API_USER = "sandbox-api@sandbox.local"


def _day(sb: Instance, day: str) -> dict[str, Any]:
    count = sb.limits.usage.get(day, 0)
    return {"date": day, "total": count, "users": [{"userId": API_USER, "count": count}] if count else []}


def usage(sb: Instance, request: Request, match: Any) -> Response:
    return ok([_day(sb, quota_day())])


def usage_last7(sb: Instance, request: Request, match: Any) -> Response:
    today = date.fromisoformat(quota_day())
    return ok([_day(sb, (today - timedelta(days=i)).isoformat()) for i in range(7)])


def errors(sb: Instance, request: Request, match: Any) -> Response:
    day = quota_day()
    per_code = sb.limits.errors.get(day, {})
    return ok([{"date": day, "total": sum(per_code.values()),
                "errors": [{"errorCode": code, "count": n} for code, n in sorted(per_code.items())]}])


ROUTES = [
    ("GET", r"/rest/v1/stats/usage\.json", usage),
    ("GET", r"/rest/v1/stats/usage/last7days\.json", usage_last7),
    ("GET", r"/rest/v1/stats/errors\.json", errors),
]
