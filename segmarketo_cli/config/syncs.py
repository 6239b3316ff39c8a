"""[profiles.NAME.syncs.SYNC] tables: named, declared job runs (job, inputs, the job's options by long name)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from segmarketo_cli.errors import ConfigError

SYNC_JOBS = ("backfill-leads", "sync-audience", "writeback", "apply-events")
# A sync's name goes into systemd unit names and crontab lines (docs/syncs.md): no spaces or shell characters.
SYNC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

OptionValue = str | int | float | bool | tuple[str | int | float, ...]


@dataclass(frozen=True)
class SyncDefinition:
    """One declared sync. `options`: the job's options by long name with '_' for '-' (`dry_run`, `list`),
    checked against the job's own command line by the `run` command; `where` names the table for errors."""

    name: str
    job: str
    inputs: tuple[str, ...] = ()
    options: Mapping[str, OptionValue] = field(default_factory=lambda: MappingProxyType({}))
    where: str = ""


@dataclass(frozen=True)
class SyncsSection:
    """[syncs]: the profile's declared syncs, in declaration order."""

    syncs: tuple[SyncDefinition, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(sync.name for sync in self.syncs)

    def get(self, name: str) -> SyncDefinition:
        for sync in self.syncs:
            if sync.name == name:
                return sync
        known = ", ".join(self.names()) or "none declared"
        raise ConfigError(f"no sync named '{name}' in this profile (syncs: {known})",
                          hint="declare one in a [profiles.NAME.syncs.SYNC] table; see docs/syncs.md")


def read_syncs(table: Mapping[str, Any], *, origin: str) -> SyncsSection:
    """[syncs]: a table of sync tables, each with a known `job`, string `inputs` and scalar or list options.
    `origin` is "FILE [profiles.NAME"."""
    syncs = []
    for name, sync in table.items():
        where = f"{origin}.syncs.{name}]"
        if not SYNC_NAME.match(name):
            raise ConfigError(f"{where}: a sync name is letters, digits, '.', '_' and '-' (at most 64), "
                              f"starting with a letter or digit")
        if not isinstance(sync, Mapping):
            raise ConfigError(f"{where}: must be a table with job = \"{SYNC_JOBS[0]}\" and the job's options")
        syncs.append(_read_sync(name, sync, where=where))
    return SyncsSection(tuple(syncs))


def _read_sync(name: str, table: Mapping[str, Any], *, where: str) -> SyncDefinition:
    job = table.get("job")
    if job not in SYNC_JOBS:
        got = "missing" if job is None else repr(job)
        raise ConfigError(f"{where}: 'job' must be one of {', '.join(SYNC_JOBS)}, got {got}")
    inputs = table.get("inputs", [])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(item, str) and item.strip() for item in inputs):
        raise ConfigError(f"{where}: 'inputs' must be a file, folder or glob, or a list of them, got {inputs!r}")
    options = {key: _option(key, value, where=where) for key, value in table.items() if key not in ("job", "inputs")}
    return SyncDefinition(name=name, job=job, inputs=tuple(inputs), options=MappingProxyType(options), where=where)


def _option(key: str, value: Any, *, where: str) -> OptionValue:
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) and not isinstance(item, bool)
                                       for item in value):
        return tuple(value)
    raise ConfigError(f"{where}: '{key}' must be a string, number, true/false or a list of them, got {value!r}")
