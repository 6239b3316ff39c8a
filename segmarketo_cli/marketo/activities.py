"""Activities: types, paging tokens, one page of Get Lead Activities, and a pager that caps empty pages."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.marketo.base import MAX_BATCH, ApiBase

log = logging.getLogger("segmarketo.marketo.activities")

MAX_TYPE_IDS = 10
MAX_LEAD_IDS = 30
PAGING_TOKEN_TIMEOUT_S = 310.0  # Get Paging Token may take 300 s server-side
DEFAULT_MAX_EMPTY_PAGES = 100


@dataclass
class ActivityPage:
    """One Get Lead Activities answer. `next_token` is always set by Marketo, even on the last page."""

    activities: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None
    more_result: bool = False


def format_since(since: dt.datetime | dt.date | str) -> str:
    """ISO-8601 with an offset and no milliseconds, as Marketo's filters need (naive datetimes are UTC)."""
    if isinstance(since, str):
        return since
    if not isinstance(since, dt.datetime):
        since = dt.datetime.combine(since, dt.time(0, 0))
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    return since.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class ActivitiesApi(ApiBase):
    """Activity endpoints of `MarketoClient`
    (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/activities)."""

    def get_activity_types(self) -> list[dict[str, Any]]:
        """`{id, name, primaryAttribute, attributes}` per type; resolve ids by name, never hard-code them."""
        return self.envelope("GET", "/rest/v1/activities/types.json").result

    def get_paging_token(self, since: dt.datetime | dt.date | str) -> str:
        """A paging token positioned at `since`."""
        env = self.envelope(
            "GET",
            "/rest/v1/activities/pagingtoken.json",
            params={"sinceDatetime": format_since(since)},
            timeout=self._long_timeout(PAGING_TOKEN_TIMEOUT_S),
        )
        if not env.next_page_token:
            raise ValueError("Marketo returned no paging token")
        return env.next_page_token

    def get_lead_activities(
        self,
        token: str,
        type_ids: Sequence[int],
        *,
        batch_size: int = MAX_BATCH,
        lead_ids: Sequence[int] | None = None,
    ) -> ActivityPage:
        """One page (≤10 type ids, ≤30 lead ids). It may be empty while `more_result` is true: keep paging."""
        if not type_ids or len(type_ids) > MAX_TYPE_IDS:
            raise ValueError(f"get_lead_activities takes 1 to {MAX_TYPE_IDS} activity type ids, got {len(type_ids)}")
        if lead_ids is not None and len(lead_ids) > MAX_LEAD_IDS:
            raise ValueError(f"get_lead_activities takes at most {MAX_LEAD_IDS} lead ids, got {len(lead_ids)}")
        params: dict[str, Any] = {
            "nextPageToken": token,
            "activityTypeIds": ",".join(str(int(t)) for t in type_ids),
            "batchSize": max(1, min(int(batch_size), MAX_BATCH)),
        }
        if lead_ids:
            params["leadIds"] = ",".join(str(int(i)) for i in lead_ids)
        env = self.envelope("GET", "/rest/v1/activities.json", params=params)
        return ActivityPage(env.result, env.next_page_token or token, bool(env.more_result))


class ActivityPager:
    """Iterate pages from `token` until `more_result` is false, stopping after `max_empty_pages` empty pages
    in a row (each empty page still costs a call). `token` always holds the position to resume from and
    `capped` says whether the cap ended the walk early.
    """

    def __init__(
        self,
        api: ActivitiesApi,
        token: str,
        type_ids: Sequence[int],
        *,
        lead_ids: Sequence[int] | None = None,
        max_empty_pages: int = DEFAULT_MAX_EMPTY_PAGES,
    ) -> None:
        self.api = api
        self.token = token
        self.type_ids = list(type_ids)
        self.lead_ids = list(lead_ids) if lead_ids else None
        self.max_empty_pages = max_empty_pages
        self.capped = False
        self.pages = 0

    def __iter__(self) -> Iterator[ActivityPage]:
        empty_run = 0
        while True:
            page = self.api.get_lead_activities(self.token, self.type_ids, lead_ids=self.lead_ids)
            self.pages += 1
            self.token = page.next_token or self.token
            yield page
            if not page.more_result:
                return
            empty_run = 0 if page.activities else empty_run + 1
            if empty_run >= self.max_empty_pages:
                self.capped = True
                log.warning(
                    "stopped after %d empty activity pages in a row; the next run resumes from this position",
                    empty_run,
                )
                return
