"""What the endpoint mixins rely on: the abstract `request` primitive, its typed wrappers and the batch guards."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import requests

from segmarketo_cli.errors import ConfigError, MarketoError
from segmarketo_cli.marketo.envelope import Envelope

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+; only the type checker reads it

MAX_BATCH = 300  # records per Lead DB call (Sync Leads, list ops, filterValues, program status)
MAX_CAMPAIGN_BATCH = 100  # leads (and tokens) per Request Campaign call

# A query string: a mapping, or (name, value) pairs when a name repeats (`id=1&id=2`).
Params = Mapping[str, Any] | Sequence[tuple[str, Any]]
# Multipart files: field name -> (file name, content, content type).
Files = Mapping[str, tuple[str, bytes, str]]


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of `ApiBase.request` besides `expect_json`, as `envelope` and `raw` pass them on."""

    params: Params | None
    json: Any  # a JSON request body
    form: Mapping[str, str] | None
    files: Files | None
    headers: Mapping[str, str] | None
    timeout: float | None
    once: bool
    stream: bool  # a file answer is returned unread, for the caller to stream (`iter_content`) and close


class ApiBase(ABC):
    """Base of MarketoClient and its endpoint mixins; `MarketoClient.request` does the real work."""

    instance: str = ""
    # The lead partition new leads are created in (the profile's `partition`); None: Marketo's default partition.
    partition_name: str | None = None
    timeout: float  # the default read timeout, seconds
    _partitions_checked: frozenset[str] = frozenset()

    @abstractmethod
    def request(
        self, method: str, path: str, *, expect_json: bool = True, **options: Unpack[RequestOptions]
    ) -> Envelope | requests.Response:
        """One logical call: an `Envelope`, or the raw `requests.Response` of a file when `expect_json=False`."""

    def envelope(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Envelope:
        """`request` for JSON endpoints, typed."""
        result = self.request(method, path, **options)
        assert isinstance(result, Envelope), "request(expect_json=True) answers an Envelope"
        return result

    def raw(self, method: str, path: str, **options: Unpack[RequestOptions]) -> requests.Response:
        """`request` for file endpoints (bulk failures, warnings, extract files)."""
        result = self.request(method, path, expect_json=False, **options)
        if isinstance(result, Envelope):  # an envelope saying "no data" (702) where a file was expected
            raise MarketoError("", f"{method} {path} returned no file")
        return result

    def _long_timeout(self, server_timeout_s: float) -> float:
        """A read timeout above Marketo's own server-side timeout for the call."""
        return max(self.timeout, server_timeout_s)

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

    def paged(self, path: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
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


def check_batch(items: Sequence[object], what: str, limit: int = MAX_BATCH) -> None:
    """Refuse oversize batches before they reach the wire; callers batch."""
    if len(items) > limit:
        raise ValueError(f"{what} takes at most {limit} items per call, got {len(items)}")


def id_list(ids: Sequence[int | str]) -> list[int]:
    """Lead ids as ints (Marketo ids are integers; a stray string id is a caller bug)."""
    return [int(i) for i in ids]
