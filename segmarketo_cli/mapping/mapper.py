"""Segment traits -> Marketo lead fields: names (built-in, [mapping], auto-match), describe catalog, coercion."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.identity import EMAIL_RE, Person, Trait, flatten
from segmarketo_cli.timeparse import parse_iso_datetime
from segmarketo_cli.tomlfiles import load_toml

if TYPE_CHECKING:
    from segmarketo_cli.state import StateStore

log = logging.getLogger("segmarketo.mapping")

DESCRIBE_CACHE_KEY = "describe:leads"
DESCRIBE_TTL_S = 86400.0
# Reserved traits (https://segment.com/docs/connections/spec/identify/#traits). Earlier entries win when two traits
# land on one field (camelCase first).
BUILTIN: tuple[tuple[str, str], ...] = (
    ("email", "email"), ("firstName", "firstName"), ("first_name", "firstName"), ("lastName", "lastName"),
    ("last_name", "lastName"), ("phone", "phone"), ("title", "title"), ("website", "website"),
    ("birthday", "dateOfBirth"), ("company.name", "company"), ("company", "company"),
    ("company.industry", "industry"), ("company.employee_count", "numberOfEmployees"),
    ("company.employeeCount", "numberOfEmployees"), ("address.street", "address"), ("address.city", "city"),
    ("address.state", "state"), ("address.postalCode", "postalCode"), ("address.postal_code", "postalCode"),
    ("address.zip", "postalCode"), ("address.country", "country"),
)
# Traits with no Marketo target on purpose (Marketo createdAt is read-only; `name` is split below).
NOT_MAPPED = {"createdAt", "created_at", "name", "id"}
# Compliance rule: Segment data never sets these to false (or clears them).
COMPLIANCE_FIELDS = {"unsubscribed", "emailInvalid", "marketingSuspended", "blackListed"}
PRIORITY_EXPLICIT, PRIORITY_BUILTIN, PRIORITY_AUTO = 0, 1, 2
_INT_RE = re.compile(r"^[+-]?\d+$")
_NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
_PLAIN_TEXT = frozenset({"string", "text", "phone", "url", "textarea"})


@dataclass(frozen=True)
class FieldInfo:
    """One Marketo lead field from Describe: REST name, dataType, length, read-only flag."""

    name: str
    data_type: str
    length: int | None = None
    read_only: bool = False

    def __post_init__(self) -> None:
        if not self.data_type.islower():
            object.__setattr__(self, "data_type", self.data_type.lower())


@dataclass
class FieldCatalog:
    """The instance's lead fields by REST name, plus the fields usable as lookup keys (Describe Lead2)."""

    fields: dict[str, FieldInfo]
    searchable: set[str] | None = None

    @classmethod
    def from_describe(cls, result: list[dict[str, Any]], searchable: set[str] | None = None) -> FieldCatalog:
        fields = {}
        for item in result:
            rest = item.get("rest")
            if not isinstance(rest, dict) or not rest.get("name"):
                continue  # a field without `rest` cannot be used through the REST API
            fields[rest["name"]] = FieldInfo(
                rest["name"], str(item.get("dataType", "string")).lower(), item.get("length"),
                bool(rest.get("readOnly")),
            )
        return cls(fields, searchable)

    def to_cache(self) -> dict[str, Any]:
        return {
            "fields": [[f.name, f.data_type, f.length, f.read_only] for f in self.fields.values()],
            "searchable": sorted(self.searchable) if self.searchable is not None else None,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> FieldCatalog:
        fields = {row[0]: FieldInfo(*row) for row in data["fields"]}
        searchable = set(data["searchable"]) if data.get("searchable") is not None else None
        return cls(fields, searchable)

    def get(self, name: str) -> FieldInfo | None:
        return self.fields.get(name)

    def check_lookup(self, name: str) -> None:
        """ConfigError unless `name` is a known field usable as a lookup key."""
        if name not in self.fields and name != "id":
            raise ConfigError(f"lookup field '{name}' is not a Marketo lead field (check its REST API name)")
        if self.searchable is not None and name not in self.searchable:
            allowed = ", ".join(sorted(self.searchable)[:12])
            raise ConfigError(f"lookup field '{name}' is not searchable in Marketo (searchable: {allowed})")


def load_catalog(client: Any, store: StateStore | None, *, refresh: bool = False) -> FieldCatalog:
    """Describe (and Describe Lead2 for searchable keys), cached a day in the state store."""
    instance = getattr(client, "instance", "")
    if store is not None and not refresh:
        cached = store.cache_get(instance, DESCRIBE_CACHE_KEY)
        if cached:
            return FieldCatalog.from_cache(cached)
    searchable = None
    if hasattr(client, "describe_leads2"):
        lead2 = client.describe_leads2()
        lead2 = lead2[0] if isinstance(lead2, list) and lead2 else lead2
        if isinstance(lead2, dict) and isinstance(lead2.get("searchableFields"), list):
            # Single-field keys only: compound keys cannot be a Sync Leads lookupField.
            searchable = {keys[0] for keys in lead2["searchableFields"] if isinstance(keys, list) and len(keys) == 1}
    catalog = FieldCatalog.from_describe(client.describe_leads(), searchable)
    if store is not None:
        store.cache_put(instance, DESCRIBE_CACHE_KEY, catalog.to_cache(), ttl_s=DESCRIBE_TTL_S)
    return catalog


def load_mapping_file(path: str | Path) -> dict[str, str]:
    """A TOML file of `"trait.path" = "marketoField"`, either top-level or under a [mapping] table."""
    path = Path(path)
    try:
        document = load_toml(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    table = document.get("mapping", document)
    return check_mapping_table(table, where=str(path))


def check_mapping_table(table: Any, *, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: mapping must be a table of \"trait.path\" = \"fieldName\"")
    flat: dict[str, str] = {}
    for key, value in flatten(table):  # TOML dotted keys (address.city = "x") arrive nested
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: mapping '{key}' must name a Marketo field (a string), got {value!r}")
        flat[key] = value.strip()
    return flat


class CoercionError(ValueError):
    """A value that does not fit the field's Marketo dataType; `expected` says what would."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def coerce(value: Any, info: FieldInfo) -> Any:
    """`value` converted for `info.dataType`; CoercionError when it cannot be.

    (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/field-types)
    """
    if value is None:
        return None
    kind = info.data_type
    if type(value) is str and kind in _PLAIN_TEXT:  # the common case, kept fast
        if info.length and len(value) > info.length:
            raise CoercionError(f"{kind} of at most {info.length} characters (got {len(value)})")
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise CoercionError("boolean (true/false)")
    if kind in ("integer", "reference", "score"):
        if isinstance(value, bool):
            raise CoercionError("integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            return int(value.strip())
        raise CoercionError("integer (whole number)")
    if kind in ("float", "currency", "percent"):
        if isinstance(value, bool):
            raise CoercionError(f"{kind} (a number)")
        if isinstance(value, (int, float)) and math.isfinite(value):
            return value
        if isinstance(value, str) and _NUM_RE.match(value.strip()):
            number = float(value.strip())
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        raise CoercionError(f"{kind} (a number)")
    if kind == "date":
        return _as_date(value)
    if kind == "datetime":
        return _as_datetime(value)
    if isinstance(value, (dict, list)):
        raise CoercionError(f"{kind} (text, not an object or list)")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if kind == "email":
        text = text.strip()
        if not EMAIL_RE.match(text) or not text.isascii():
            raise CoercionError("email (a valid ASCII e-mail address)")
    if info.length and len(text) > int(info.length):
        raise CoercionError(f"{kind} of at most {info.length} characters (got {len(text)})")
    return text


def _parse_moment(value: Any) -> dt.datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if abs(value) > 1e11 else value  # epoch milliseconds vs seconds
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
        except (OverflowError, OSError, ValueError):  # beyond year 9999 or the platform's time_t
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_iso_datetime(value)
    except ValueError:
        return None


def _as_date(value: Any) -> str:
    moment = _parse_moment(value)
    if moment is None:
        raise CoercionError("date (YYYY-MM-DD)")
    return moment.date().isoformat()


def _as_datetime(value: Any) -> str:
    moment = _parse_moment(value)
    if moment is None:
        raise CoercionError("datetime (ISO-8601, e.g. 2024-05-01T12:00:00Z)")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)  # naive: taken as UTC
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def spellings(path: str) -> list[str]:
    """camelCase, PascalCase and snake_case spellings of a trait path ('plan_tier', 'company.plan')."""
    words: list[str] = []
    for part in path.split("."):
        part = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", part)
        words.extend(w for w in re.split(r"[_\-\s]+", part) if w)
    if not words:
        return []
    lower = [w.lower() for w in words]
    camel = lower[0] + "".join(w.capitalize() for w in lower[1:])
    pascal = "".join(w.capitalize() for w in lower)
    snake = "_".join(lower)
    return list(dict.fromkeys([path, camel, pascal, snake]))


@dataclass
class FieldError:
    """A value rejected by coercion: the Marketo field, the trait it came from, the value, what was expected."""

    field: str
    trait: str
    value: Any
    expected: str

    def describe(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:  # a 10 MB trait must not make a 10 MB reason; the rejects file keeps its start
            shown = f"{shown[:60]}... ({len(shown):,} characters)"
        return f"{self.field}: {shown} from trait '{self.trait}' is not {self.expected}"


@dataclass
class MappedLead:
    """One person's Marketo fields (coerced), each field's trait timestamp, and what could not be mapped."""

    fields: dict[str, Any] = field(default_factory=dict)
    field_ts: dict[str, float] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    dropped: list[FieldError] = field(default_factory=list)
    compliance_skipped: int = 0


@dataclass
class Mapper:
    """Resolves trait paths to fields once per distinct path, then maps and coerces each person."""

    catalog: FieldCatalog
    explicit: dict[str, str] = field(default_factory=dict)
    auto_map: bool = True
    user_id_field: str | None = None
    on_invalid: str = "reject"
    unmapped: dict[str, str] = field(default_factory=dict)  # trait path -> why (listed once in the report)
    _routes: dict[str, tuple[str, tuple[int, int]] | None] = field(default_factory=dict)
    _shapes: dict[tuple[str, ...], Any] = field(default_factory=dict)  # see mapping_raw.py

    def __post_init__(self) -> None:
        if self.on_invalid not in ("reject", "drop-field"):
            raise ConfigError("--on-invalid must be 'reject' or 'drop-field'")
        self._builtin = {path: (target, rank) for rank, (path, target) in enumerate(BUILTIN)}
        self.validate()

    def validate(self) -> None:
        """Unknown or read-only targets of the explicit mapping and userId field: ConfigError before any write."""
        problems = []
        targets = [(f"mapping '{p}'", f) for p, f in self.explicit.items()]
        if self.user_id_field:
            targets.append(("user_id_field", self.user_id_field))
        for what, name in targets:
            info = self.catalog.get(name)
            if info is None:
                problems.append(f"{what} -> '{name}': no such Marketo lead field")
            elif info.read_only:
                problems.append(f"{what} -> '{name}': the field is read-only in Marketo")
        if problems:
            raise ConfigError("; ".join(problems))

    def route(self, path: str) -> tuple[str, tuple[int, int]] | None:
        """(field, (priority, rank)) for a trait path, or None (remembered in `unmapped` with a reason)."""
        if path in self._routes:
            return self._routes[path]
        result: tuple[str, tuple[int, int]] | None = None
        why = "no mapping"
        if path in self.explicit:
            result = (self.explicit[path], (PRIORITY_EXPLICIT, 0))
        elif path in self._builtin:
            target, rank = self._builtin[path]
            info = self.catalog.get(target)
            if info is not None and not info.read_only:
                result = (target, (PRIORITY_BUILTIN, rank))
            else:
                why = f"built-in target '{target}' is not a writable field in this instance"
        elif path in NOT_MAPPED:
            why = "reserved trait with no Marketo target"
        elif self.auto_map:
            for name in spellings(path):
                info = self.catalog.get(name)
                if info is not None:
                    if info.read_only:
                        why = f"matches read-only field '{name}'"
                        continue
                    if name in COMPLIANCE_FIELDS or name == "id":
                        continue
                    result = (name, (PRIORITY_AUTO, 0))
                    break
        if result is None:
            self.unmapped.setdefault(path, why)
        self._routes[path] = result
        return result

    def map_person(self, person: Person) -> MappedLead:
        """The person's traits as coerced Marketo fields; per-field errors per --on-invalid."""
        if person.raw is not None:
            lead = _map_raw()(self, person)
            if lead is not None:
                return lead
        lead = MappedLead()
        traits = person.traits
        paths = list(traits)
        chosen = self.choose_routes(paths)
        raw = [(target, traits[paths[index]], paths[index]) for target, index in chosen.items()]
        name = traits.get("name")
        if name is not None and isinstance(name.value, str) and name.value.strip():
            first, _, last = name.value.strip().partition(" ")
            if "firstName" not in chosen and self._writable("firstName"):
                raw.append(("firstName", Trait(first, name.ts, name.seq), "name"))
            if "lastName" not in chosen and last.strip() and self._writable("lastName"):
                raw.append(("lastName", Trait(last.strip(), name.ts, name.seq), "name"))
        if self.user_id_field and person.user_id:
            raw.append((self.user_id_field, Trait(person.user_id, person.last_seen, 0), "userId"))
        for target, trait, path in raw:
            self.put(lead, target, trait.value, trait.ts, path)
        return lead

    def choose_routes(self, paths: list[str]) -> dict[str, int]:
        """Target field -> index of the trait path that writes it (the best priority wins; ties: first seen)."""
        routes = self._routes
        chosen: dict[str, tuple[tuple[int, int], int]] = {}
        for index, path in enumerate(paths):
            route = routes[path] if path in routes else self.route(path)
            if route is None:
                continue
            target, order = route
            best = chosen.get(target)
            if best is None or order < best[0]:
                if best is not None and order[0] == best[0][0] == PRIORITY_BUILTIN:
                    log.debug("traits '%s' and '%s' both map to %s; using '%s'", path, paths[best[1]], target, path)
                chosen[target] = (order, index)
        return {target: index for target, (_, index) in chosen.items()}

    def put(self, lead: MappedLead, target: str, value: Any, ts: float, path: str) -> None:
        """Coerce one trait value into `lead.fields[target]`, or record why it cannot go there."""
        info = self.catalog.fields.get(target) or FieldInfo(target, "string")
        if type(value) is str and info.data_type in _PLAIN_TEXT and len(value) <= (info.length or len(value)):
            lead.fields[target] = value  # fast path of coerce() for the common case
            lead.field_ts[target] = ts
            return
        try:
            coerced = coerce(value, info)
        except CoercionError as exc:
            problem = FieldError(target, path, value, exc.expected)
            (lead.dropped if self.on_invalid == "drop-field" else lead.errors).append(problem)
            return
        if target in COMPLIANCE_FIELDS and coerced is not True:
            lead.compliance_skipped += 1
            return
        lead.fields[target] = coerced
        lead.field_ts[target] = ts

    def _writable(self, name: str) -> bool:
        info = self.catalog.get(name)
        return info is not None and not info.read_only


def _map_raw() -> Any:
    """mapping_raw.map_raw, imported on first use (it imports this module)."""
    global _MAP_RAW
    if _MAP_RAW is None:
        from segmarketo_cli.mapping.raw import map_raw

        _MAP_RAW = map_raw
    return _MAP_RAW


_MAP_RAW: Any = None
