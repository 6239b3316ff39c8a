"""[listen]: the receiver's address, flush cadence, size bounds and audience -> static list mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from segmarketo_cli.config.known_keys import refuse_unknown_keys
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.sizes import parse_size

LISTEN_KEYS = ("host", "port", "flush_seconds", "flush_events", "max_body_bytes", "max_spool_bytes", "audiences",
               "retry_after_seconds")


@dataclass(frozen=True)
class ListenSection:
    """[listen]: where `segmarketo listen` binds, when it flushes (every `flush_seconds` or `flush_events`, which
    comes first), the largest request body, the bytes of pending events past which it answers 503, and which
    Marketo static list each Engage audience key feeds."""

    host: str = "127.0.0.1"
    port: int = 8707
    flush_seconds: float = 10.0
    flush_events: int = 5000
    max_body_bytes: int = 1 << 20
    max_spool_bytes: int = 1 << 30
    retry_after_seconds: int = 60
    audiences: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def read_listen(table: Mapping[str, Any], *, origin: str) -> ListenSection:
    """[listen]: known keys, positive numbers, sizes as numbers or text ('1MB'), audiences as key = "List"."""
    where = f"{origin}.listen]"
    refuse_unknown_keys(table, LISTEN_KEYS, where=where)
    base = ListenSection()
    host = table.get("host", base.host)
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"{where}: host must be an address such as \"127.0.0.1\", got {host!r}")
    port = _number(table, "port", base.port, where=where, kind=int)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: port must be 0-65535, got {port}")
    return ListenSection(
        host=host.strip(), port=int(port),
        flush_seconds=float(_number(table, "flush_seconds", base.flush_seconds, where=where, kind=float)),
        flush_events=int(_number(table, "flush_events", base.flush_events, where=where, kind=int)),
        max_body_bytes=_size(table, "max_body_bytes", base.max_body_bytes, where=where),
        max_spool_bytes=_size(table, "max_spool_bytes", base.max_spool_bytes, where=where),
        retry_after_seconds=int(_number(table, "retry_after_seconds", base.retry_after_seconds, where=where,
                                        kind=int)),
        audiences=MappingProxyType(_audiences(table.get("audiences", {}), where=f"{origin}.listen.audiences]")),
    )


def _number(table: Mapping[str, Any], key: str, default: float, *, where: str, kind: type) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"{where}: {key} must be a{'n integer' if kind is int else ' number'}, got {value!r}")
    if key != "port" and value <= 0:
        raise ConfigError(f"{where}: {key} must be positive, got {value!r}")
    return value


def _size(table: Mapping[str, Any], key: str, default: int, *, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, str):
        value = parse_size(value, where=f"{where} {key}")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: {key} must be a positive size such as 1MB, got {value!r}")
    return value


def _audiences(table: Any, *, where: str) -> dict[str, str]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of audience_key = \"Marketo static list name\"")
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: '{key}' must name a Marketo static list, got {value!r}")
    return {str(key): value.strip() for key, value in table.items()}
