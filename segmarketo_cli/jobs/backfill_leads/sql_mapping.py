"""backfill-leads' simple people mapped to lead fields in SQL (docs/engine.md, "Mapping in SQL").

A simple person (columnar.py) is the latest identify of its hub folded alone, so its traits are that message's
traits, and every message with the same `json_structure` (keys in order, nesting, value types) has the same trait
paths. For each such shape the mapper routes the paths once, as it would for the first person of that shape
(`Mapper.choose_routes`, which also records the unmapped traits), and the shape becomes one SQL statement over the
people of that shape: its leaves extracted (one JSON parse per person), the traits' text checked to give no key
twice (trait_shapes.keys_once: json_structure merges such a key, and Python keeps its last value where
json_extract reads the first), each routed value checked, and written into a JSON
object of fields in the mapper's order, with the lead key, the marketo_owned fields and whether the plan reads
the lead from Marketo.

Only what SQL provably does as `Mapper.map_person` + `plan.plan_person` do is done here: text within the field's
length (counted in bytes, never fewer than the characters Python counts), whole numbers for number fields,
numbers written as text ("42", "9.5") and decimals when json.loads reads them as coerce() does (_number),
booleans and the 0/1 and words coerce() reads as booleans for boolean fields, dates already written YYYY-MM-DD
for date fields, e-mail addresses the reader already normalised, the `name` trait split into firstName /
lastName. A person whose value needs anything else (coercion, a rejection, any other date, a compliance
field...) is left to Python: no row of it is
inserted and columnar.py builds its Person as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import duckdb

from segmarketo_cli.engine import sql_text
from segmarketo_cli.jobs.backfill_leads.plan import Ownership
from segmarketo_cli.jobs.backfill_leads.trait_shapes import LEAVES, keys_once, leaf_in, leaf_pointer, told
from segmarketo_cli.mapping.catalog import PLAIN_TEXT, FieldInfo
from segmarketo_cli.mapping.mapper import COMPLIANCE_FIELDS, FALSE_WORDS, TRUE_WORDS, Mapper

_PLAIN_NAME = re.compile(r"[ !#-\[\]-~]+")  # printable ASCII but '"' and '\\': a field name JSON writes as it is
MAX_SHAPES = 256  # shapes mapped in SQL, most common first; the people of rarer ones are mapped in Python
_INTEGERS = ("BIGINT", "UBIGINT")
_DATE = "[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"  # a date field's text as Mapper.coerce writes it
_WHOLE_KINDS = {"integer", "reference", "score"}
_NUMBER_KINDS = {*_WHOLE_KINDS, "float", "currency", "percent"}
# Number text that json.loads (the plan reads the fields' JSON text back with it) reads as the very number
# Mapper.coerce makes of it: JSON's whole numbers but "-0" (whose key would be "0"), int() of them, up to 4,000
# digits (Python converts no more than 4,300); for the float kinds, at most 15 characters of them (float() is exact
# there, and coerce() gives an int of a whole number), or JSON's decimals without an exponent that are finite as
# a double, float() of them. Text coerce() reads otherwise (" 42", "+5", ".5", "1e3") is left to Python.
_WHOLE = "0|-?[1-9][0-9]*"
_DECIMAL = r"-?(0|[1-9][0-9]*)\.[0-9]+"


def _number(text: str, data_type: str) -> list[str]:
    """SQL checks that json.loads reads the number `text` (a JSON string's text, or DuckDB's text of a JSON number)
    as coerce() reads it for a field of `data_type` (see _WHOLE and _DECIMAL)."""
    whole = f"regexp_full_match({text}, '{_WHOLE}')"
    if data_type in _WHOLE_KINDS:
        return [f"{whole} AND strlen({text}) <= 4000"]
    decimal = f"regexp_full_match({text}, '{_DECIMAL}') AND isfinite(try_cast({text} AS DOUBLE))"
    return [f"({whole} AND strlen({text}) <= 15 OR {decimal})"]


def leaves(structure: object, *, clear_nulls: bool, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(trait path, JSON type) of each leaf of a `json_structure`, in the order identity.walk / _flatten_into
    flatten the traits: a non-empty object is its leaves, anything else (an empty object or a list: type JSON)
    a leaf; a null is a leaf only when nulls clear."""
    assert isinstance(structure, dict)
    for key, value in structure.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaves(value, clear_nulls=clear_nulls, prefix=f"{path}.")
        elif isinstance(value, list) or value == {}:
            yield path, "JSON"
        elif value != "NULL" or clear_nulls:
            yield path, str(value)


def _leaf(pointers: list[str], path: str) -> str:
    """SQL of the JSON text of the trait at the dotted `path` (no key of which holds a dot): its place among the
    extracted leaves `pointers` (added there when new)."""
    return leaf_in(pointers, leaf_pointer(path.split(".")))


@dataclass
class _Field:
    """One field of a shape's leads: the SQL of its value's JSON text, the checks a person's value must pass, and its
    SQL as the lead key (lead_key: the text Python would strip to nothing more) with the checks that take, None
    when it cannot be one here."""

    value: str
    checks: list[str] = field(default_factory=list)
    key: str | None = None
    key_checks: list[str] = field(default_factory=list)
    present: str | None = None  # SQL true when a person's lead has the field at all (None: always)


def _printable(text: str) -> list[str]:
    """`text` is printable ASCII with no space at either end: str.strip() leaves it as it is."""
    return [f"regexp_full_match({text}, '[!-~]([ -~]*[!-~])?')"]


def _fits(text: str, info: FieldInfo, *, quoted: str = "") -> list[str]:
    """`text` is within the field's length, counted in bytes (never fewer than the characters Python counts).
    `quoted`: the JSON text `text` is decoded from, never shorter than it plus its two quotes, so the text is
    decoded for the test only when that is longer than the field (the filter asks the OR's second half only of the
    rows the first leaves)."""
    if not info.length:
        return []
    fits = f"strlen({text}) <= {int(info.length)}"
    return [f"(strlen({quoted}) <= {int(info.length) + 2} OR {fits})" if quoted else fits]


def _json_object(fields: dict[str, _Field]) -> str:
    """SQL of the JSON object text of `fields` (their values' JSON text) as json_object writes it (no spaces; every
    name is _PLAIN_NAME, written as it is): one concat, which costs a third of json_object's parsing each JSON value
    again to write it. No value is NULL (concat leaves a NULL out: a field not `present` writes NULL), and the first
    field is always present."""
    if not fields:
        return "'{}'"
    parts = []
    for index, (name, f) in enumerate(fields.items()):
        text = sql_text(("{" if index == 0 else ",") + f'"{name}":')
        assert index > 0 or f.present is None
        parts += [text, f.value] if f.present is None else [f"CASE WHEN {f.present} THEN concat({text}, {f.value}) END"]
    return f"concat({', '.join(parts)}, '}}')"


def _name_split(mapper: Mapper, targets: list[str], name: str) -> dict[str, _Field] | None:
    """firstName and lastName (those of `targets`) as Mapper.map_person splits the `name` trait (SQL text
    `name`): the text before its first space, and the rest without its leading spaces when there is any (else no
    lastName at all). Only a name str.strip() leaves as it is (so the split needs no trimming) and text fields
    it fits; None when a field takes Python."""
    rest = f"ltrim(substr({name}, strpos({name}, ' ') + 1), ' ')"
    parts = {"firstName": (f"split_part({name}, ' ', 1)", None),
             "lastName": (f"CASE WHEN contains({name}, ' ') THEN {rest} ELSE '' END", "<> ''")}
    split: dict[str, _Field] = {}
    for target in targets:
        info = mapper.catalog.fields.get(target) or FieldInfo(target, "string")
        if info.data_type not in PLAIN_TEXT or info.name in COMPLIANCE_FIELDS:
            return None
        text, written = parts[target]
        checks = _fits(text, info) if split else _printable(name) + _fits(text, info)
        split[target] = _Field(f"to_json({text})", checks, present=f"{text} {written}" if written else None)
    return split


@dataclass
class ShapePlan:
    """The SQL of one shape (with or without a userId): the fields in the mapper's order, the lead key, and the
    fields marketo_owned keeps from being written."""

    fields: dict[str, _Field]
    key: str
    key_checks: list[str]
    owned: list[str]
    reads: bool  # whether the plan reads these leads from Marketo (plan.needs_read)
    pointers: list[str]  # the JSON pointers of the leaves extracted per person (LEAVES)

    def select(self, simple: str, *, shape: int, with_user: bool, keys_once: str) -> str:
        """The shape's people (those whose values pass every check and whose traits give no key twice,
        `keys_once`: trait_shapes.keys_once over the same leaves) as rows of `map_in_sql`."""
        written = [name for name in self.fields if name not in self.owned]
        checks = [keys_once] + [check for f in self.fields.values() for check in f.checks] + self.key_checks
        owned = _json_object({n: self.fields[n] for n in self.owned}) if self.owned else "NULL"
        fields = _json_object({n: self.fields[n] for n in written})
        needs_read = f"{str(self.reads).lower()} AND NOT contains({self.key}, ',')"
        pointers = ", ".join(sql_text(pointer) for pointer in self.pointers)
        extract = f"json_extract(traits, [{pointers}])" if pointers else "[]::JSON[]"
        return f"""
            SELECT first_fold, {self.key} AS key, {fields} AS fields, ts, first_pos, {owned} AS owned_fields,
                   {len(self.owned)} AS owned, {needs_read} AS needs_read
            FROM (SELECT first_fold, ts, first_pos, u, e, traits, {extract} AS {LEAVES} FROM {simple}
                  WHERE shape = {int(shape)} AND u IS {'NOT ' if with_user else ''}NULL)
            WHERE {' AND '.join(checks)}"""


def _value(info: FieldInfo, kind: str, ref: str, path: str) -> _Field | None:
    """What Mapper.put would store from the JSON value `ref` (of type `kind`, at trait `path`) in a field like
    `info`, as SQL; None when that takes Python (coercion, a rejection, a type SQL does not settle here)."""
    data_type = info.data_type
    if info.name in COMPLIANCE_FIELDS:
        return None
    if kind == "NULL":  # nulls clear: the field is cleared
        return _Field("'null'")
    if path == "email" and kind == "VARCHAR" and data_type in (*PLAIN_TEXT, "email"):
        # identity.walk put the reader's normalised address (the column e) in place of the traits' own
        return _Field("to_json(e)", _fits("e", info), "e")
    if data_type in PLAIN_TEXT and kind == "VARCHAR":
        text = f"({ref} ->> '$')"
        # the JSON string itself goes into the fields' JSON text: the same value as its decoded text
        return _Field(ref, _fits(text, info, quoted=ref), text, _printable(text))
    if data_type in PLAIN_TEXT and kind in (*_INTEGERS, "BOOLEAN"):
        # str() of a whole number or a boolean is its JSON text; a number's text is a key as it is
        text = f"({ref}::VARCHAR)"
        return _Field(f"to_json{text}", _fits(text, info), text if kind != "BOOLEAN" else None)
    if data_type in _NUMBER_KINDS and kind in _INTEGERS:
        return _Field(ref, key=f"({ref}::VARCHAR)")
    if data_type in _NUMBER_KINDS and kind == "VARCHAR":
        # a number given as text ("42"), written as a JSON number: json.loads gives coerce()'s when _number says so
        text = f"({ref} ->> '$')"
        key = text if data_type in _WHOLE_KINDS else None  # the float kinds' key is str() of a float or an int
        return _Field(text, _number(text, data_type), key)
    if data_type in _NUMBER_KINDS - _WHOLE_KINDS and kind == "DOUBLE":
        # json.loads' float; DuckDB writes a finite double back as the same double (1e2 as 100.0, maybe with an
        # exponent, which _number leaves to Python), and keeps the text of one past the largest double
        text = f"({ref}::VARCHAR)"
        return _Field(text, _number(text, data_type))
    if data_type == "boolean" and kind == "BOOLEAN":
        return _Field(ref)
    if data_type == "boolean" and kind in _INTEGERS:
        return _Field(f"CASE {ref}::VARCHAR WHEN '1' THEN 'true' WHEN '0' THEN 'false' END",
                      [f"{ref}::VARCHAR IN ('0', '1')"])
    if data_type == "boolean" and kind == "VARCHAR":
        # coerce() reads these words whatever their case; only ASCII letters and digits, so nothing to strip and
        # lower() is Python's lower()
        word = f"lower({ref} ->> '$')"
        words = ", ".join(sql_text(w) for w in sorted(TRUE_WORDS | FALSE_WORDS))
        trues = ", ".join(sql_text(w) for w in sorted(TRUE_WORDS))
        return _Field(f"CASE WHEN {word} IN ({trues}) THEN 'true' ELSE 'false' END",
                      [f"regexp_full_match({ref} ->> '$', '[A-Za-z0-9]+')", f"{word} IN ({words})"])
    if data_type == "date" and kind == "VARCHAR":
        # a calendar date written YYYY-MM-DD is the date coerce() gives (its JSON string, which needs no escape)
        text = f"({ref} ->> '$')"
        return _Field(ref, [f"regexp_full_match({text}, '{_DATE}')", f"try_cast({text} AS DATE) IS NOT NULL"])
    return None


def plan_shape(mapper: Mapper, paths: list[tuple[str, str]], *, ownership: Ownership, lookup_field: str,
               with_user: bool, read_all: bool, pointers: list[str] | None = None) -> ShapePlan | None:
    """One shape's SQL (`paths`: its leaves, see `leaves`), or None when its people are mapped in Python. The
    values it reads are among the leaves `pointers` extracts (added there when missing)."""
    pointers = [] if pointers is None else pointers
    names = [path for path, _ in paths]
    if len(set(names)) != len(names):
        return None
    chosen = mapper.choose_routes(names)
    split_into = [target for target in ("firstName", "lastName")  # a name to split (Mapper.map_person)
                  if dict(paths).get("name") == "VARCHAR" and target not in chosen and mapper.writable(target)]
    fields: dict[str, _Field] = {}
    for target, index in chosen.items():
        path, kind = paths[index]
        value = _value(mapper.catalog.fields.get(target) or FieldInfo(target, "string"), kind,
                       _leaf(pointers, path), path)
        if value is None:
            return None
        fields[target] = value
    if split_into:
        split = _name_split(mapper, split_into, f"({_leaf(pointers, 'name')} ->> '$')")
        if split is None or (mapper.user_id_field or "") in split:
            return None  # put() would coerce; or a userId put after a lastName only some people have
        fields.update(split)
    if mapper.user_id_field and with_user:
        info = mapper.catalog.fields.get(mapper.user_id_field) or FieldInfo(mapper.user_id_field, "string")
        if info.data_type not in PLAIN_TEXT or info.name in COMPLIANCE_FIELDS:
            return None
        # put() after the traits: a trait routed to the same field is still coerced (and checked) first
        earlier = fields[mapper.user_id_field].checks if mapper.user_id_field in fields else []
        fields[mapper.user_id_field] = _Field("to_json(u)", earlier + _fits("u", info), "u", _printable("u"))
    if not all(_PLAIN_NAME.fullmatch(name) for name in fields):
        return None  # a field name JSON escapes (_json_object writes each as it is)
    owned = [name for name in fields if name in ownership.marketo_owned]
    lookup = fields.get(lookup_field)
    key = lookup.key if lookup is not None else None
    if key is None or lookup_field in owned or (lookup_field == "email" and key != "e"):
        return None  # no key (a reject), a key put back after marketo_owned removed it, or one to normalise
    assert lookup is not None
    written = {name for name in fields if name not in owned}
    reads = read_all or not ownership.read_fields.isdisjoint(written)
    if any(f.present is not None and (name in owned or name in ownership.read_fields) for name, f in fields.items()):
        return None  # a field only some people have would change their marketo_owned count or reading
    if fields[next(name for name in fields if name not in owned)].present is not None:
        return None  # _json_object starts with a field every person has
    return ShapePlan(fields, key, lookup.key_checks, owned, reads, pointers)


def map_in_sql(con: duckdb.DuckDBPyConnection, simple: str, mapper: Mapper, *, nulls: str, ownership: Ownership,
               lookup_field: str, read_all: bool, insert: Callable[[str], str]) -> int:
    """Every simple person (table `simple`: first_fold, first_pos, u, e, ts, traits, shape) whose lead SQL can map,
    inserted by the statement `insert(rows)` (`rows` a query of first_fold, key, fields, ts, first_pos,
    owned_fields, owned, needs_read); how many. The people of shapes or values left to Python are not."""
    mapped = 0
    shapes = con.execute(f"""
        SELECT s.shape, s.with_user, json_structure(t.traits) FROM (
            SELECT shape, u IS NOT NULL AS with_user, count(*) AS people, min(first_fold) AS first
            FROM {simple} GROUP BY ALL ORDER BY people DESC, first LIMIT {MAX_SHAPES}) s
        JOIN {simple} t ON t.first_fold = s.first ORDER BY s.first""").fetchall()
    for shape, with_user, text in shapes:
        pointers: list[str] = []
        gate = shape_gate(int(shape), text, pointers)
        if gate is None:
            continue
        structure, once = gate
        paths = list(leaves(structure, clear_nulls=nulls == "clear"))
        plan = plan_shape(mapper, paths, ownership=ownership, lookup_field=lookup_field, with_user=with_user,
                          read_all=read_all, pointers=pointers)
        if plan is not None:
            select = plan.select(simple, shape=shape, with_user=with_user, keys_once=once)
            ((inserted,),) = con.execute(insert(select)).fetchall()
            mapped += int(inserted)
    return mapped


def shape_gate(shape: int, text: str, pointers: list[str]) -> tuple[dict[str, object], str] | None:
    """A shape's `json_structure` (its `text`) and SQL true for its rows whose traits give no key twice (json_structure
    merges such a key, Python keeps its last value): "true" for a told shape, else keys_once, its leaves added to
    `pointers`. None when the shape's people take Python: traits that are no object with keys, a dotted key that
    could collide with a nested path (Python flattens it), a key the JSON writer escapes."""
    structure = json.loads(text)
    if not isinstance(structure, dict) or any("." in key for key in structure_keys(structure)):
        return None
    once = "true" if told(shape) else keys_once(text, pointers)
    return None if once is None else (structure, once)


def structure_keys(structure: object) -> Iterator[str]:
    """Every key of a `json_structure`, at every depth."""
    if isinstance(structure, dict):
        for key, value in structure.items():
            yield key
            yield from structure_keys(value)
