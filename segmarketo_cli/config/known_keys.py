"""The one check every profile table makes first: no key it does not know, with a "did you mean" hint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.suggest import did_you_mean


def refuse_unknown_keys(table: Mapping[str, Any], known: Sequence[str], *, where: str) -> None:
    """ConfigError naming the keys of `table` that are not in `known` (e.g. "FILE [profiles.p.listen]: unknown
    key(s) flush_secs (known: ...). Did you mean ...?")."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})"
                          f"{did_you_mean(unknown[0], known)}")
