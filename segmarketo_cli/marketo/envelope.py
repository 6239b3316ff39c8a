"""The Marketo response envelope: requestId, success, result, errors, warnings, paging fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MarketoIssue:
    """One entry of `errors[]` (code normalised to a string)."""

    code: str
    message: str


@dataclass
class Envelope:
    """A parsed response. `result` is [] when Marketo omitted it (empty asset query, empty activity page)."""

    success: bool
    result: list[Any] = field(default_factory=list)
    errors: list[MarketoIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    request_id: str | None = None
    next_page_token: str | None = None
    more_result: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> dict[str, Any] | None:
        """The first result item, or None when there is none (or it is not a JSON object)."""
        item = self.result[0] if self.result else None
        return item if isinstance(item, dict) else None


class EnvelopeError(ValueError):
    """The body is not a Marketo envelope (e.g. an HTML gateway page)."""


def parse_envelope(data: Any) -> Envelope:
    """Parse a decoded JSON body; tolerate missing `result`, integer codes and warnings given as objects."""
    if not isinstance(data, dict) or "success" not in data:
        raise EnvelopeError("response is not a Marketo envelope")
    result = data.get("result")
    if result is None:
        result = []
    elif not isinstance(result, list):
        result = [result]
    errors = [
        MarketoIssue(str(e.get("code", "")), str(e.get("message", "")))
        for e in data.get("errors") or ()
        if isinstance(e, dict)
    ]
    warnings: list[str] = []
    for w in data.get("warnings") or ():
        if isinstance(w, dict):
            warnings.append(f"{w.get('code', '')} {w.get('message', '')}".strip())
        else:
            warnings.append(str(w))
    token = data.get("nextPageToken")
    more = data.get("moreResult")
    return Envelope(
        success=bool(data.get("success")),
        result=result,
        errors=errors,
        warnings=warnings,
        request_id=data.get("requestId"),
        next_page_token=str(token) if token else None,
        more_result=bool(more) if more is not None else None,
        raw=data,
    )


def empty_envelope(request_id: str | None = None) -> Envelope:
    """The envelope of a 702 'no data' answer turned into an empty success."""
    return Envelope(success=True, request_id=request_id)
