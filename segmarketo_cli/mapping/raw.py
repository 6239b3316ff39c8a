"""Mapper fast path for a person seen in one identify: map the unflattened traits through a plan cached per shape."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from segmarketo_cli.identity import Person
from segmarketo_cli.mapping.catalog import PLAIN_TEXT, FieldCatalog, FieldInfo
from segmarketo_cli.mapping.lead import MappedLead

# 1: coerce() keeps an int as it is; 2: also a finite float.
_NUMBER = {"integer": 1, "reference": 1, "score": 1, "float": 2, "currency": 2, "percent": 2}
MAX_SHAPES = 4096  # distinct trait-path sets remembered per mapper; rarer shapes are planned each time


@dataclass(slots=True)
class Shape:
    """How one ordered set of trait paths maps: (target, value index, path, plain-text length limit, number kind)."""

    entries: list[tuple[str, int, str, int, int]]
    name_index: int = -1  # where the `name` trait is (split into firstName / lastName), -1 if absent
    first_name: bool = False
    last_name: bool = False


class ShapeMapper(Protocol):
    """What the fast path needs of mapping.mapper.Mapper: its routes, its slow path (`put`) and its shape cache."""

    catalog: FieldCatalog
    user_id_field: str | None
    shapes: dict[tuple[str, ...], Shape | None]

    def choose_routes(self, paths: list[str]) -> dict[str, int]: ...

    def writable(self, name: str) -> bool: ...

    def put(self, lead: MappedLead, target: str, value: Any, ts: float, path: str) -> None: ...


def plan_shape(mapper: ShapeMapper, paths: tuple[str, ...]) -> Shape | None:
    """Route each path as Mapper.map_person does (first best priority wins a target); None for repeated paths."""
    if len(set(paths)) != len(paths):
        return None  # a dotted key colliding with a nested one: let the flattened path decide
    chosen = mapper.choose_routes(list(paths))
    entries = []
    for target, index in chosen.items():
        info = mapper.catalog.fields.get(target) or FieldInfo(target, "string")
        limit = (info.length or sys.maxsize) if info.data_type in PLAIN_TEXT else -1
        entries.append((target, index, paths[index], limit, _NUMBER.get(info.data_type, 0)))
    shape = Shape(entries)
    if "name" in paths:
        shape.name_index = paths.index("name")
        shape.first_name = "firstName" not in chosen and mapper.writable("firstName")
        shape.last_name = "lastName" not in chosen and mapper.writable("lastName")
    return shape


def map_raw(mapper: ShapeMapper, person: Person) -> MappedLead | None:
    """What mapper.map_person(person) returns, computed from `person.raw`; None when that needs the slow path."""
    if person.raw is None:
        return None
    key, values, ts, _seq = person.raw
    shapes = mapper.shapes
    if key in shapes:
        shape = shapes[key]
    else:
        shape = plan_shape(mapper, key)
        if len(shapes) < MAX_SHAPES:
            shapes[key] = shape
    if shape is None:
        return None
    lead = MappedLead()
    fields, field_ts = lead.fields, lead.field_ts
    for target, index, path, limit, number in shape.entries:
        value = values[index]
        kind = type(value)
        # What coerce() keeps as it is: short text, an int (not a bool) for a number field, a finite float.
        if (kind is str and len(value) <= limit) or (kind is int and number) or \
                (kind is float and number == 2 and math.isfinite(value)):
            fields[target] = value
            field_ts[target] = ts
        else:
            mapper.put(lead, target, value, ts, path)
    if shape.name_index >= 0:
        name = values[shape.name_index]
        if isinstance(name, str) and name.strip():
            first, _, last = name.strip().partition(" ")
            if shape.first_name:
                mapper.put(lead, "firstName", first, ts, "name")
            if shape.last_name and last.strip():
                mapper.put(lead, "lastName", last.strip(), ts, "name")
    if mapper.user_id_field and person.user_id:
        mapper.put(lead, mapper.user_id_field, person.user_id, person.last_seen, "userId")
    return lead
