"""The day's Marketo calls against the daily quota and budget, and the time until Marketo resets the quota."""

from __future__ import annotations

import datetime as dt
from typing import Any

from segmarketo_cli.config import Settings
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.marketo.codes import next_quota_reset, quota_day
from segmarketo_cli.marketo.usage import MARKETO_DAILY_QUOTA
from segmarketo_cli.state import StateStore


def quota_today(store: StateStore, instance: str, daily_budget: int | None,
                now: dt.datetime | None = None) -> dict[str, Any]:
    """What the report shows: `used`, the calls segmarketo made today on `instance` (every run and profile, from
    the state store, this run's included; other integrations' calls are not known here, `doctor` asks Marketo for
    those), Marketo's `limit`, the profile's `budget` (None: none set) and when the day resets (00:00
    America/Chicago, https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/rest-api)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    day = quota_day(now)
    reset = next_quota_reset(now)
    return {
        "day": day,
        "used": store.api_calls_on(instance, day),
        "limit": MARKETO_DAILY_QUOTA,
        "budget": daily_budget,
        "resets_at": reset.isoformat(),
        "resets_in_s": int((reset - now).total_seconds()),
    }


def add_quota(report: RunReport, store: StateStore, settings: Settings) -> None:
    """Put today's quota in the report of a run on a profile with a Marketo endpoint (after the run's calls were
    recorded), whether or not this run called Marketo."""
    if settings.marketo_endpoint:
        instance = normalize_endpoint(settings.marketo_endpoint, what="Marketo endpoint")
        report.marketo_quota = quota_today(store, instance, settings.daily_budget)
