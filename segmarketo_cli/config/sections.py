"""The profile's sub-tables ([mapping], [fields], [writeback], [[rules]], [syncs], [listen]) as typed
sections, checked once."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from segmarketo_cli.config.known_keys import refuse_unknown_keys
from segmarketo_cli.config.listen import ListenSection, read_listen
from segmarketo_cli.config.syncs import SyncsSection, read_syncs
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.suggest import did_you_mean

# The TOML shape of each sub-table a profile may hold.
TABLE_SHAPES: dict[str, type] = {"mapping": dict, "fields": dict, "writeback": dict, "rules": list, "syncs": dict,
                               "listen": dict}
FIELD_KINDS = ("marketo_owned", "fill_only", "newer_only")
WRITEBACK_KEYS = ("bulk_after_days", "events", "identity", "integrations", "marketo_extras")
IDENTITY_MODES = ("auto", "user-id-only")

_Section = TypeVar("_Section")


def check_mapping_table(table: Any, *, where: str) -> dict[str, str]:
    """A [mapping] table (or a --mapping file) as flat "trait.path" -> field name; ConfigError naming `where`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: mapping must be a table of \"trait.path\" = \"fieldName\"")
    flat: dict[str, str] = {}
    for key, value in _dotted(table, ""):  # TOML dotted keys (address.city = "x") arrive nested
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: mapping '{key}' must name a Marketo field (a string), got {value!r}")
        flat[key] = value.strip()
    return flat


def _dotted(table: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict) and value:
            pairs.extend(_dotted(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


@dataclass(frozen=True)
class MappingSection:
    """[mapping]: custom trait path -> Marketo field API name."""

    targets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class FieldsSection:
    """[fields]: field ownership for backfill-leads; each field in at most one list, the lookup field in none."""

    marketo_owned: tuple[str, ...] = ()
    fill_only: tuple[str, ...] = ()
    newer_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class WritebackSection:
    """[writeback]: activity types to events, Marketo extras, integrations, identity mode, Bulk Extract cut-over.

    `events` values: an event name, `false` (drop the type) or `true` (add a Marketo extra). `integrations`,
    `identity` and `bulk_after_days` are None when the profile does not set them.
    """

    events: Mapping[str, str | bool] = field(default_factory=lambda: MappingProxyType({}))
    marketo_extras: bool = False
    integrations: Mapping[str, bool] | None = None
    identity: str | None = None
    bulk_after_days: float | None = None


@dataclass(frozen=True)
class RulesSection:
    """[[rules]]: apply-events rule tables, as written; the rules language is checked by apply-events' reader
    (which reads --rules files too)."""

    tables: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ProfileSections:
    """Every sub-table, checked once when the settings load. A broken one raises its ConfigError where it is used,
    so a command (or a doctor check) that does not read it still works."""

    _mapping: MappingSection | ConfigError = MappingSection()
    _fields: FieldsSection | ConfigError = FieldsSection()
    _writeback: WritebackSection | ConfigError = WritebackSection()
    _rules: RulesSection | None | ConfigError = None
    _syncs: SyncsSection | ConfigError = SyncsSection()
    _listen: ListenSection | ConfigError = ListenSection()

    @property
    def mapping(self) -> MappingSection:
        return _valid(self._mapping)

    @property
    def fields(self) -> FieldsSection:
        return _valid(self._fields)

    @property
    def writeback(self) -> WritebackSection:
        return _valid(self._writeback)

    @property
    def rules(self) -> RulesSection | None:
        """None when the profile has no [[rules]]."""
        return _valid(self._rules)

    @property
    def syncs(self) -> SyncsSection:
        return _valid(self._syncs)

    @property
    def listen(self) -> ListenSection:
        return _valid(self._listen)


def _valid(section: _Section | ConfigError) -> _Section:
    if isinstance(section, ConfigError):
        raise ConfigError(section.message, hint=section.hint)
    return section


def check_table_shapes(profile_table: Mapping[str, Any], *, path: Path, profile: str) -> None:
    """Each sub-table has its TOML shape ('mapping = 5' is not a table); checked at load, for every command."""
    for name, kind in TABLE_SHAPES.items():
        if name in profile_table and not isinstance(profile_table[name], kind):
            shape = f"a [profiles.{profile}.{name}] table" if kind is dict else f"[[profiles.{profile}.{name}]] tables"
            raise ConfigError(f"{path} [profiles.{profile}]: '{name}' must be {shape}, got {profile_table[name]!r}")


def check_profile_keys(profile_table: Mapping[str, Any], scalars: Collection[str], *, path: Path,
                       profile: str) -> None:
    """Every key of the profile table is a known setting or sub-table: a typo ('daily_budjet') is a ConfigError
    naming the closest known key, never a setting silently left at its default."""
    known = [*scalars, *TABLE_SHAPES]
    unknown = sorted(key for key in profile_table if key not in known)
    if unknown:
        raise ConfigError("; ".join(f"{path}: unknown key '{key}' in [profiles.{profile}]{did_you_mean(key, known)}"
                                    for key in unknown))


def read_sections(tables: Mapping[str, Any], *, path: Path, profile: str, lookup_field: str) -> ProfileSections:
    """The typed sections of a profile whose sub-tables passed `check_table_shapes`."""
    origin = f"{path} [profiles.{profile}"
    return ProfileSections(
        _mapping=_checked(lambda: MappingSection(MappingProxyType(
            check_mapping_table(tables.get("mapping", {}), where=f"{origin}.mapping]")))),
        _fields=_checked(lambda: read_fields(tables.get("fields", {}), origin=origin, lookup_field=lookup_field)),
        _writeback=_checked(lambda: read_writeback(tables.get("writeback", {}), origin=origin)),
        _rules=_checked(lambda: read_rules(tables.get("rules"), origin=origin)),
        _syncs=_checked(lambda: read_syncs(tables.get("syncs", {}), origin=origin)),
        _listen=_checked(lambda: read_listen(tables.get("listen", {}), origin=origin)),
    )


def _checked(read: Callable[[], _Section]) -> _Section | ConfigError:
    try:
        return read()
    except ConfigError as exc:
        return exc


def read_rules(tables: list[Any] | None, *, origin: str) -> RulesSection | None:
    """[[rules]]: a list of tables; what each rule says is apply-events' to check."""
    if tables is None:
        return None
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, Mapping):
            raise ConfigError(f"{origin}.rules]: rule {index}: must be a table of keys ([[rule]])")
    return RulesSection(tuple(tables))


def read_fields(table: Mapping[str, Any], *, origin: str, lookup_field: str) -> FieldsSection:
    """[fields]: known keys, lists of names, no field in two lists, the lookup field in none. `origin` is
    "FILE [profiles.NAME"."""
    where = f"{origin}.fields]"
    refuse_unknown_keys(table, FIELD_KINDS, where=where)
    lists: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for kind in FIELD_KINDS:
        names = table.get(kind, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{where}: '{kind}' must be a list of Marketo field names")
        for name in names:
            if name in seen:
                raise ConfigError(f"{where}: field '{name}' is in both '{seen[name]}' and '{kind}'")
            if name == lookup_field:
                raise ConfigError(f"{where}: the lookup field '{name}' cannot be in '{kind}'")
            seen[name] = kind
        lists[kind] = tuple(names)
    return FieldsSection(**lists)


def read_writeback(table: Mapping[str, Any], *, origin: str) -> WritebackSection:
    """[writeback]: known keys, an events table of names or booleans, booleans for extras and integrations."""
    where = f"{origin}.writeback]"
    refuse_unknown_keys(table, WRITEBACK_KEYS, where=where)
    return WritebackSection(
        events=MappingProxyType(_events(table.get("events") or {}, where=f"{origin}.writeback.events]")),
        marketo_extras=_extras(table.get("marketo_extras", False), where=where),
        integrations=_integrations(table.get("integrations"), where=f"{origin}.writeback.integrations]"),
        identity=_identity(table.get("identity"), where=where),
        bulk_after_days=_bulk_after_days(table.get("bulk_after_days"), where=where),
    )


def _events(events: Any, *, where: str) -> dict[str, str | bool]:
    if not isinstance(events, Mapping):
        raise ConfigError(f"{where} must be a table of \"Activity Type\" = \"Event Name\" | false")
    checked: dict[str, str | bool] = {}
    for name, value in events.items():
        if isinstance(value, bool):
            checked[str(name)] = value
        elif isinstance(value, str) and value.strip():
            checked[str(name)] = value.strip()
        else:
            raise ConfigError(f"{where}: '{name}' must be an event name (string) or false, got {value!r}")
    return checked


def _extras(value: Any, *, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} marketo_extras must be true or false, got {value!r}")
    return value


def _integrations(table: Any, *, where: str) -> Mapping[str, bool] | None:
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of \"Destination Name\" = true | false")
    for name, value in table.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: '{name}' must be true or false, got {value!r}")
    return MappingProxyType({str(name): value for name, value in table.items()})


def _identity(value: Any, *, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in IDENTITY_MODES:
        raise ConfigError(f"{where}: identity mode {value!r} is not one of {', '.join(IDENTITY_MODES)}")
    return value


def _bulk_after_days(value: Any, *, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{where}: bulk_after_days must be a positive number of days, got {value!r}")
    return float(value)
