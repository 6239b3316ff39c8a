"""What the endpoint mixins rely on: the `request` primitive and the batch-size guards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import requests

from .envelope import Envelope

MAX_BATCH = 300  # records per Lead DB call (Sync Leads, list ops, filterValues, program status)
MAX_CAMPAIGN_BATCH = 100  # leads (and tokens) per Request Campaign call


class ApiBase:
    """Base of MarketoClient and its endpoint mixins; `MarketoClient.request` does the real work."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        form: Any = None,
        files: Any = None,
        expect_json: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        once: bool = False,
    ) -> Any:
        raise NotImplementedError

    def envelope(self, method: str, path: str, **kwargs: Any) -> Envelope:
        """`request` for JSON endpoints, typed."""
        result = self.request(method, path, **kwargs)
        assert isinstance(result, Envelope)
        return result

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """`request` for file endpoints (bulk failures, warnings, extract files)."""
        return self.request(method, path, expect_json=False, **kwargs)

    def paged(self, path: str, params: dict[str, Any]) -> Iterator[list[Any]]:
        """GET pages by `nextPageToken` until it is absent or a page comes back empty."""
        token: str | None = None
        while True:
            page = self.envelope("GET", path, params={**params, **({"nextPageToken": token} if token else {})})
            if not page.result:
                return
            yield page.result
            token = page.next_page_token
            if not token:
                return


def check_batch(items: Sequence[Any], what: str, limit: int = MAX_BATCH) -> None:
    """Refuse oversize batches before they reach the wire; callers batch."""
    if len(items) > limit:
        raise ValueError(f"{what} takes at most {limit} items per call, got {len(items)}")


def id_list(ids: Sequence[int | str]) -> list[int]:
    """Lead ids as ints (Marketo ids are integers; a stray string id is a caller bug)."""
    return [int(i) for i in ids]
