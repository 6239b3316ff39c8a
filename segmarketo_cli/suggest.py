"""'Did you mean' hints: the closest known name to a mistyped one (difflib), as text to append to an error."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.75  # above difflib's 0.6, which offers 'unsubscribed' for 'noSuchField'; 'emial' -> 'email' is 0.8


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `name` (compared case-insensitively), or None when none is close."""
    by_folded: dict[str, str] = {}
    for candidate in known:
        by_folded.setdefault(candidate.casefold(), candidate)
    found = difflib.get_close_matches(name.casefold(), list(by_folded), n=1, cutoff=CUTOFF)
    return by_folded[found[0]] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """" — did you mean 'X'?" for the closest known name, else ""."""
    match = closest(name, known)
    return f" — did you mean '{match}'?" if match is not None and match != name else ""
