"""Rules for apply-events: parse and validate `[[rule]]` tables (file or profile) before any call."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmarketo_cli.config.sections import RulesSection
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.tomlfiles import load_toml

ACTIONS = ("score", "program-status", "trigger-campaign", "suppress", "set-fields")
COMMON_KEYS = {"name", "event", "where", "action", "create", "description"}
ACTION_KEYS: dict[str, tuple[set[str], set[str]]] = {  # action -> (required keys, optional keys)
    "score": ({"field", "points"}, set()),
    "program-status": ({"program", "status"}, set()),
    "trigger-campaign": ({"campaign"}, {"tokens"}),
    "suppress": (set(), {"reason", "remove_from_lists"}),
    "set-fields": ({"fields"}, set()),
}
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists")
SOURCE_KINDS = ("property", "trait", "message")
# Compliance: these may only ever be set to true, and only by the suppress action.
CONSENT_FIELDS = {"unsubscribed", "emailInvalid", "marketingSuspended", "blackListed"}
MAX_TOKENS = 100
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$")
_TOKEN_RE = re.compile(r"^\{\{my\.[^{}]+\}\}$")


@dataclass(frozen=True)
class ValueSource:
    """A value taken from the event (`property`, `trait` or `message` path) or a constant."""

    kind: str  # "constant", "property", "trait" or "message"
    path: tuple[str, ...] = ()
    constant: Any = None
    default: Any = None

    def read(self, message: Mapping[str, Any]) -> Any:
        """The value for one message; None when the path is absent and there is no default."""
        if self.kind == "constant":
            return self.constant
        root: Any = {
            "property": message.get("properties"),
            "trait": (message.get("context") or {}).get("traits"),
            "message": message,
        }[self.kind]
        value = dig(root, self.path)
        return self.default if value is None else value

    def describe(self) -> str:
        if self.kind == "constant":
            return repr(self.constant)
        return f"{self.kind} '{'.'.join(self.path)}'"


@dataclass(frozen=True)
class Condition:
    """One `where` test on an event property path."""

    path: tuple[str, ...]
    op: str
    value: Any

    def test(self, properties: Mapping[str, Any] | None) -> bool:
        actual = dig(properties, self.path)
        if self.op == "exists":
            return (actual is not None) == bool(self.value)
        if actual is None:
            return self.op in ("ne", "not_in")
        if self.op in ("eq", "ne"):
            return _equal(actual, self.value) == (self.op == "eq")
        if self.op in ("in", "not_in"):
            return any(_equal(actual, v) for v in self.value) == (self.op == "in")
        number = as_number(actual)
        if number is None:
            return False
        bound: float = self.value
        if self.op == "gt":
            return number > bound
        if self.op == "gte":
            return number >= bound
        if self.op == "lt":
            return number < bound
        return number <= bound


NO_POINTS = ValueSource("constant", constant=0)


@dataclass
class Rule:
    """One validated rule. Marketo references (program, campaign, lists) are resolved later, before writes."""

    index: int
    name: str
    events: tuple[str, ...]
    action: str
    where: tuple[Condition, ...] = ()
    create: bool = False
    description: str | None = None
    # Each action's keys; the reader sets those of the rule's own action (the defaults are never used).
    field: str = ""  # score
    points: ValueSource = NO_POINTS  # score
    program: int | str = ""  # program-status
    status: str = ""  # program-status
    campaign: int | str = ""  # trigger-campaign
    tokens: dict[str, ValueSource] = dataclasses.field(default_factory=dict)  # trigger-campaign
    reason: ValueSource | None = None  # suppress
    remove_from_lists: tuple[int | str, ...] | str = ()  # suppress: ids/names, or "all"
    fields: dict[str, ValueSource] = dataclasses.field(default_factory=dict)  # set-fields
    origin: str = ""  # the rules file (or profile) it came from, for error messages

    @property
    def label(self) -> str:
        return f'rule {self.index} ("{self.name}")'

    def matches(self, message: Mapping[str, Any]) -> bool:
        """True when the message is a track of one of this rule's events and every condition holds."""
        if message.get("event") not in self.events:
            return False
        properties = message.get("properties")
        return all(c.test(properties if isinstance(properties, Mapping) else None) for c in self.where)


def dig(root: Any, path: tuple[str, ...]) -> Any:
    """Follow `path` through nested mappings; None when any step is missing."""
    for part in path:
        if not isinstance(root, Mapping):
            return None
        root = root.get(part)
    return root


def as_number(value: Any) -> float | int | None:
    """A number from an int, float or numeric string; None for anything else (bool included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if not isinstance(value, str):
        return value if math.isfinite(value) else None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or (isinstance(actual, str) and actual.strip().lower() == str(expected).lower())
    if isinstance(expected, (int, float)):
        number = as_number(actual)
        return number is not None and number == expected
    return str(actual) == str(expected)


def normalize_token_name(name: str) -> str:
    """`plan`, `my.plan` and `{{my.plan}}` all name the program token `{{my.plan}}`."""
    name = name.strip()
    if name.startswith("{{"):
        return name
    return "{{" + (name if name.startswith("my.") else f"my.{name}") + "}}"


class _RuleReader:
    """Validates one raw rule table; every error names the rule (index and name) and the key."""

    def __init__(self, raw: Any, index: int, origin: str) -> None:
        self.origin = origin
        self.index = index
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{origin}: rule {index}: must be a table of keys ([[rule]])")
        self.raw = raw
        name = raw.get("name")
        self.name = name if isinstance(name, str) else None

    def fail(self, key: str | None, problem: str) -> ConfigError:
        who = f'rule {self.index} ("{self.name}")' if self.name else f"rule {self.index}"
        where = f", key '{key}'" if key else ""
        return ConfigError(f"{self.origin}: {who}{where}: {problem}")

    def read(self) -> Rule:
        raw = self.raw
        if self.name is None or not _NAME_RE.match(self.name):
            raise self.fail("name", "is required: letters, digits, space, '_', '.', ':' or '-', at most 100")
        action = raw.get("action")
        if action not in ACTIONS:
            raise self.fail("action", f"must be one of {', '.join(ACTIONS)}, got {action!r}")
        required, optional = ACTION_KEYS[action]
        allowed = COMMON_KEYS | required | optional
        for key in raw:
            if key not in allowed:
                raise self.fail(key, f"is not a key of a {action} rule (allowed: {', '.join(sorted(allowed))})")
        for key in sorted(required):
            if key not in raw:
                raise self.fail(key, f"is required for a {action} rule")
        create = raw.get("create", False)
        if not isinstance(create, bool):
            raise self.fail("create", f"must be true or false, got {create!r}")
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            raise self.fail("description", "must be a string")
        rule = Rule(index=self.index, name=self.name, events=self._events(), action=action, where=self._where(),
                    create=create, description=description, origin=self.origin)
        getattr(self, "_" + action.replace("-", "_"))(rule)
        return rule

    def _events(self) -> tuple[str, ...]:
        value = self.raw.get("event")
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise self.fail("event", "must be an event name or a non-empty list of event names")
        return tuple(dict.fromkeys(names))

    def _where(self) -> tuple[Condition, ...]:
        value = self.raw.get("where", {})
        if not isinstance(value, Mapping):
            raise self.fail("where", 'must be a table of property conditions, e.g. where = { plan = "pro" }')
        conditions: list[Condition] = []
        self._flatten_where(value, (), conditions)
        return tuple(conditions)

    def _flatten_where(self, table: Mapping[str, Any], prefix: tuple[str, ...], out: list[Condition]) -> None:
        for key, value in table.items():
            path = prefix + tuple(key.split("."))
            label = f"where.{'.'.join(path)}"
            if isinstance(value, Mapping) and value and all(k in OPERATORS for k in value):
                for op, operand in value.items():
                    out.append(Condition(path, op, self._operand(label, op, operand)))
            elif isinstance(value, Mapping):
                if not value:
                    raise self.fail(label, f"an empty table is not a condition (operators: {', '.join(OPERATORS)})")
                self._flatten_where(value, path, out)
            elif isinstance(value, list):
                out.append(Condition(path, "in", self._operand(label, "in", value)))
            else:
                out.append(Condition(path, "eq", self._operand(label, "eq", value)))

    def _operand(self, label: str, op: str, value: Any) -> Any:
        if op == "exists":
            if not isinstance(value, bool):
                raise self.fail(label, f"'exists' takes true or false, got {value!r}")
            return value
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or not all(_is_scalar(v) for v in value):
                raise self.fail(label, f"'{op}' takes a non-empty list of strings, numbers or booleans")
            return tuple(value)
        if op in ("gt", "gte", "lt", "lte"):
            if as_number(value) is None or isinstance(value, str):
                raise self.fail(label, f"'{op}' takes a number, got {value!r}")
            return value
        if not _is_scalar(value):
            raise self.fail(label, f"must be a string, number or boolean, got {value!r}")
        return value

    def _source(self, key: str, value: Any, *, allow_constant: bool = True) -> ValueSource:
        if isinstance(value, Mapping):
            kinds = [k for k in SOURCE_KINDS if k in value]
            extra = [k for k in value if k not in SOURCE_KINDS and k != "default"]
            if len(kinds) != 1 or extra:
                raise self.fail(key, 'a value from the event is { property = "name" } (or trait / message), '
                                     'with an optional default')
            path = value[kinds[0]]
            if not isinstance(path, str) or not path.strip():
                raise self.fail(key, f"'{kinds[0]}' must be a non-empty path such as \"plan\" or \"plan.name\"")
            default = value.get("default")
            if default is not None and not _is_scalar(default):
                raise self.fail(key, "'default' must be a string, number or boolean")
            return ValueSource(kinds[0], tuple(path.strip().split(".")), default=default)
        if not allow_constant or not (_is_scalar(value) or hasattr(value, "isoformat")):
            raise self.fail(key, f'must be a constant or {{ property = "name" }}, got {value!r}')
        return ValueSource("constant", constant=value.isoformat() if hasattr(value, "isoformat") else value)

    def _score(self, rule: Rule) -> None:
        rule.field = self._field_name("field", self.raw["field"])
        points = self.raw["points"]
        if isinstance(points, Mapping):
            rule.points = self._source("points", points)
            if rule.points.default is not None and (as_number(rule.points.default) is None
                                                    or isinstance(rule.points.default, str)):
                raise self.fail("points", "'default' must be a number")
            return
        if isinstance(points, bool) or not isinstance(points, int):
            raise self.fail("points", f'must be a whole number or {{ property = "name" }}, got {points!r}')
        rule.points = ValueSource("constant", constant=points)

    def _program_status(self, rule: Rule) -> None:
        rule.program = self._reference("program", self.raw["program"])
        status = self.raw["status"]
        if not isinstance(status, str) or not status.strip():
            raise self.fail("status", "must be the name of a program status, e.g. \"Registered\"")
        rule.status = status.strip()

    def _trigger_campaign(self, rule: Rule) -> None:
        rule.campaign = self._reference("campaign", self.raw["campaign"])
        tokens = self.raw.get("tokens", {})
        if not isinstance(tokens, Mapping):
            raise self.fail("tokens", 'must be a table, e.g. tokens = { "my.plan" = { property = "plan" } }')
        if len(tokens) > MAX_TOKENS:
            raise self.fail("tokens", f"Marketo takes at most {MAX_TOKENS} tokens per request, got {len(tokens)}")
        for name, value in tokens.items():
            token = normalize_token_name(name)
            if not _TOKEN_RE.match(token):
                raise self.fail(f"tokens.{name}", "a token name looks like my.name or {{my.name}}")
            if token in rule.tokens:
                raise self.fail(f"tokens.{name}", f"names the token {token} twice")
            rule.tokens[token] = self._source(f"tokens.{name}", value)

    def _suppress(self, rule: Rule) -> None:
        if "reason" in self.raw:
            rule.reason = self._source("reason", self.raw["reason"])
        lists = self.raw.get("remove_from_lists", ())
        if isinstance(lists, str) and lists.strip().lower() == "all":
            rule.remove_from_lists = "all"
            return
        if not isinstance(lists, (list, tuple)):
            raise self.fail("remove_from_lists", 'must be a list of list ids or names, or "all"')
        rule.remove_from_lists = tuple(self._reference("remove_from_lists", v) for v in dict.fromkeys(lists))

    def _set_fields(self, rule: Rule) -> None:
        fields = self.raw["fields"]
        if not isinstance(fields, Mapping) or not fields:
            raise self.fail("fields", 'must be a non-empty table, e.g. fields = { lifecycleStage = "Customer" }')
        for name, value in fields.items():
            target = self._field_name(f"fields.{name}", name)
            if target in CONSENT_FIELDS:
                raise self.fail(f"fields.{name}", "consent fields are only set by the suppress action")
            rule.fields[target] = self._source(f"fields.{name}", value)

    def _field_name(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise self.fail(key, f"must be a Marketo field REST name such as \"leadScore\", got {value!r}")
        return value

    def _reference(self, key: str, value: Any) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise self.fail(key, f"must be a Marketo id (a positive number) or a name, got {value!r}")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def parse_rules(raw_rules: Any, origin: str) -> list[Rule]:
    """Validate a list of raw rule tables (from a file or the profile); names must be unique."""
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{origin}: no rules: add at least one [[rule]] table")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules, start=1):
        rule = _RuleReader(raw, index, origin).read()
        if rule.name in seen:
            raise ConfigError(f"{origin}: {rule.label}, key 'name': already used by rule {seen[rule.name]}")
        seen[rule.name] = index
        rules.append(rule)
    _check_cross_rule(rules, origin)
    return rules


def _check_cross_rule(rules: list[Rule], origin: str) -> None:
    """A field is either summed by score rules or written by set-fields rules, never both."""
    scored = {r.field: r for r in rules if r.action == "score"}
    for rule in rules:
        for target in rule.fields:
            if target in scored:
                raise ConfigError(f"{origin}: {rule.label}, key 'fields.{target}': field is also the score field "
                                  f"of {scored[target].label}; a field is either scored or set")


def load_rules_file(path: str | Path) -> list[Rule]:
    """Read and validate a rules TOML file with `[[rule]]` tables (`[[rules]]` is accepted too)."""
    path = Path(path)
    try:
        document = load_toml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: rules file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: rules file cannot be read: {exc.strerror}") from None
    unknown = [key for key in document if key not in ("rule", "rules")]
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key '{unknown[0]}' (rules are [[rule]] tables)")
    if "rule" in document and "rules" in document:
        raise ConfigError(f"{path}: use either [[rule]] or [[rules]] tables, not both")
    return parse_rules(document.get("rule", document.get("rules")), str(path))


def load_profile_rules(section: RulesSection | None, origin: str) -> list[Rule]:
    """Rules kept in the profile as `[[profiles.NAME.rules]]` (None: the profile has none)."""
    if section is None:
        raise ConfigError(f"{origin}: no rules: pass --rules FILE or add [[profiles.<name>.rules]] tables")
    return parse_rules(list(section.tables), origin)
