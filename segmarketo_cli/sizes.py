"""Byte sizes: read from settings text ('1GB', '512MiB') and written for people ('1.0 GB')."""

from __future__ import annotations

import re

from segmarketo_cli.errors import ConfigError

MIN_MEMORY_BYTES = 32 << 20  # below this DuckDB cannot sort one chunk of a plan in memory
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_size(text: str, *, where: str) -> int:
    """Bytes from a size such as '1GB', '512MB', '2GiB' or '800000000' (ConfigError otherwise)."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(f"{where}: '{text}' is not a size such as 512MB, 1GB or 2GiB")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_memory_limit(text: str, *, where: str = "memory_limit") -> int:
    """Bytes from a size such as '1GB', '512MB', '2GiB' or '800000000' (ConfigError otherwise), at least 32MB."""
    size = parse_size(text, where=where)
    if size < MIN_MEMORY_BYTES:
        raise ConfigError(f"{where}: '{text}' is too small; the planning engine needs at least 32MB")
    return size


def human_size(size: int) -> str:
    """'1.0 GB', '64 MB', '512 kB': decimal units, as the setting is usually written."""
    if size >= 10**9:
        return f"{size / 10**9:.1f} GB"
    if size >= 10**6:
        return f"{size / 10**6:.0f} MB"
    return f"{size / 10**3:.0f} kB"
