"""What the endpoint mixins rely on: the `request` primitive and the batch-size guards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import requests

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.marketo.envelope import Envelope

MAX_BATCH = 300  # records per Lead DB call (Sync Leads, list ops, filterValues, program status)
MAX_CAMPAIGN_BATCH = 100  # leads (and tokens) per Request Campaign call


class ApiBase:
    """Base of MarketoClient and its endpoint mixins; `MarketoClient.request` does the real work."""

    instance: str = ""
    # The lead partition new leads are created in (the profile's `partition`); None: Marketo's default partition.
    partition_name: str | None = None
    _partitions_checked: frozenset[str] = frozenset()

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

    def partition_for_create(self, explicit: str | None = None) -> str | None:
        """The partitionName a create call sends: `explicit`, else the client's `partition_name`.

        The first time a name is used it is checked against Get Lead Partitions, so a misspelt partition is one
        ConfigError naming the valid ones, before the first lead is sent, instead of a 1008 for every record.
        """
        name = explicit or self.partition_name
        if not name or name in self._partitions_checked:
            return name
        rows = self.envelope("GET", "/rest/v1/leads/partitions.json").result
        names = [str(row.get("name")) for row in rows if isinstance(row, dict) and row.get("name")]
        if name not in names:
            raise ConfigError(
                f"lead partition '{name}' does not exist on {self.instance or 'this instance'} "
                f"(partitions: {', '.join(names) or 'none'})",
                hint="set 'partition' in the profile, SEGMARKETO_PARTITION or --partition to one of them",
            )
        self._partitions_checked = self._partitions_checked | {name}
        return name

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
