"""One way to cut work into Marketo-sized calls and to read why Marketo skipped a record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.marketo.codes import with_partition_advice

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = MAX_BATCH) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size` (Marketo's 300 records per Lead DB call by default)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start:start + size]


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in consecutive lists of at most `size`, drawn lazily (for streams `chunks` cannot slice)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(frozen=True)
class SkipReason:
    """The first reason Marketo gave for not doing a record: `code` ('1005') and its `message`."""

    code: str | None
    message: str

    def describe(self) -> str:
        """'Marketo 1009: <message> (<what to do>)' for a rejects file or a report line."""
        if self.code is None:
            return self.message
        return f"Marketo {self.code}: {with_partition_advice(self.code, self.message)}".strip()


def first_reason(row: Mapping[str, Any] | None) -> SkipReason:
    """The first `reasons[]` entry of a result row; a missing row or reason says what Marketo answered instead.
    Marketo's record-level reasons: https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes
    """
    if not isinstance(row, Mapping):
        return SkipReason(None, "Marketo returned no result for this record")
    for reason in row.get("reasons") or ():
        if isinstance(reason, Mapping):
            code = reason.get("code")
            return SkipReason(None if code is None else str(code), str(reason.get("message", "") or ""))
    return SkipReason(None, f"Marketo answered {row.get('status') or 'nothing'}")


def positional(rows: Sequence[Any], batch: Sequence[T]) -> Iterator[tuple[T, Mapping[str, Any] | None]]:
    """Pair each record of `batch` with its result row: Sync Leads and the list/program calls answer one row per
    input record, in input order. A short reply pairs the missing tail with None (never a neighbour's row)."""
    for index, record in enumerate(batch):
        row = rows[index] if index < len(rows) else None
        yield record, row if isinstance(row, Mapping) else None
