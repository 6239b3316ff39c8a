"""What a source reader yields: one message (or one malformed-input error) with its file:line origin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FORMATS = ("jsonl", "json", "csv", "parquet")


@dataclass(slots=True)
class SourceItem:
    """A Spec message read from `origin` ("path:line"), or `error` (the reason) when the input was malformed."""

    origin: str
    message: dict[str, Any] | None = None
    error: str | None = None
    skipped: bool = False  # a well-shaped line the caller's `keep` filter said it has no use for (not parsed)

    @property
    def ok(self) -> bool:
        return self.error is None


SKIPPED = SourceItem("", skipped=True)
