"""Mapper fast path for a person seen in one identify: map the unflattened traits through a plan cached per shape."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from segmarketo_cli.mapping.mapper import _PLAIN_TEXT, FieldInfo, MappedLead

if TYPE_CHECKING:
    from segmarketo_cli.identity import Person
    from segmarketo_cli.mapping.mapper import Mapper

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


def plan_shape(mapper: Mapper, paths: tuple[str, ...]) -> Shape | None:
    """Route each path as Mapper.map_person does (first best priority wins a target); None for repeated paths."""
    if len(set(paths)) != len(paths):
        return None  # a dotted key colliding with a nested one: let the flattened path decide
    chosen = mapper.choose_routes(list(paths))
    entries = []
    for target, index in chosen.items():
        info = mapper.catalog.fields.get(target) or FieldInfo(target, "string")
        limit = (info.length or sys.maxsize) if info.data_type in _PLAIN_TEXT else -1
        entries.append((target, index, paths[index], limit, _NUMBER.get(info.data_type, 0)))
    shape = Shape(entries)
    if "name" in paths:
        shape.name_index = paths.index("name")
        shape.first_name = "firstName" not in chosen and mapper._writable("firstName")
        shape.last_name = "lastName" not in chosen and mapper._writable("lastName")
    return shape


def map_raw(mapper: Mapper, person: Person) -> MappedLead | None:
    """What mapper.map_person(person) returns, computed from `person.raw`; None when the shape needs the slow path."""
    key, values, ts, _seq = person.raw
    shapes = mapper._shapes
    shape = shapes.get(key, False)
    if shape is False:
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
