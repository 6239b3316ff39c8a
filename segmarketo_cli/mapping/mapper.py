"""Segment traits -> Marketo lead fields: names (built-in, [mapping], auto-match) and coercion to each dataType."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmarketo_cli.config.sections import check_mapping_table
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.identity import EMAIL_RE, Person, Trait
from segmarketo_cli.mapping.catalog import PLAIN_TEXT, FieldCatalog, FieldInfo, load_catalog
from segmarketo_cli.mapping.lead import FieldError, MappedLead
from segmarketo_cli.mapping.raw import Shape, map_raw
from segmarketo_cli.suggest import did_you_mean
from segmarketo_cli.timeparse import as_utc, parse_iso_datetime
from segmarketo_cli.tomlfiles import load_toml

# FieldCatalog, FieldInfo and load_catalog live in mapping.catalog; the jobs import them from here as before.
__all__ = ["FALSE_WORDS", "TRUE_WORDS", "CoercionError", "FieldCatalog", "FieldInfo", "Mapper", "check_mapping_table",
           "coerce", "load_catalog", "load_mapping_file", "spellings"]

log = logging.getLogger("segmarketo.mapping")

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
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})  # text coerce() reads as a boolean (any case, trimmed)
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})


def load_mapping_file(path: str | Path) -> dict[str, str]:
    """A TOML file of `"trait.path" = "marketoField"`, either top-level or under a [mapping] table."""
    path = Path(path)
    try:
        document = load_toml(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    table = document.get("mapping", document)
    return check_mapping_table(table, where=str(path))


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
    if type(value) is str and kind in PLAIN_TEXT:  # the common case, kept fast
        if info.length and len(value) > info.length:
            raise CoercionError(f"{kind} of at most {info.length} characters (got {len(value)})")
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise CoercionError("boolean (true/false)")
    if kind in ("integer", "reference", "score"):
        if isinstance(value, bool):
            raise CoercionError("integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            try:
                return int(value.strip())
            except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
                pass
        raise CoercionError("integer (whole number)")
    if kind in ("float", "currency", "percent"):
        if isinstance(value, bool):
            raise CoercionError(f"{kind} (a number)")
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return value
        if isinstance(value, str) and _NUM_RE.match(value.strip()):
            number = float(value.strip())
            if math.isfinite(number):  # not past the largest double ("1e400")
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
    try:
        utc = as_utc(moment)  # naive: taken as UTC
    except ValueError:  # in UTC it falls before year 1 or after 9999
        raise CoercionError("datetime (ISO-8601, e.g. 2024-05-01T12:00:00Z)") from None
    return utc.replace(microsecond=0).isoformat().replace("+00:00", "Z")


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
class Mapper:
    """Resolves trait paths to fields once per distinct path, then maps and coerces each person."""

    catalog: FieldCatalog
    explicit: dict[str, str] = field(default_factory=dict)
    auto_map: bool = True
    user_id_field: str | None = None
    on_invalid: str = "reject"
    unmapped: dict[str, str] = field(default_factory=dict)  # trait path -> why (listed once in the report)
    _routes: dict[str, tuple[str, tuple[int, int]] | None] = field(default_factory=dict, init=False, repr=False)
    shapes: dict[tuple[str, ...], Shape | None] = field(default_factory=dict, init=False, repr=False)  # for map_raw

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
                problems.append(f"{what} -> '{name}': no such Marketo lead field"
                                f"{did_you_mean(name, self.catalog.fields)}")
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
            lead = map_raw(self, person)
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
            if "firstName" not in chosen and self.writable("firstName"):
                raw.append(("firstName", Trait(first, name.ts, name.seq), "name"))
            if "lastName" not in chosen and last.strip() and self.writable("lastName"):
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
        if type(value) is str and info.data_type in PLAIN_TEXT and len(value) <= (info.length or len(value)):
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

    def writable(self, name: str) -> bool:
        info = self.catalog.get(name)
        return info is not None and not info.read_only

