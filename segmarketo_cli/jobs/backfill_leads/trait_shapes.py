"""The shape of each plain identify's traits: the md5 of its `json_structure` (keys in order, nesting, value types),
what columnar.py compares within a person and sql_mapping.py maps a person by (docs/engine.md). Not a 64-bit hash:
traits come from clients, and two structures sharing a shape would map one's people by the other's plan.

Building the structure of every identify's traits costs more than parsing them, and an export's identifies share a
few structures. So the most common structures of a sample are told by a cheaper test that holds only when
`json_structure` would return that structure: the keys of every object in it, in order (one `json_keys` of a list
of JSON pointers), and the JSON type of every leaf (one `json_type` of a list). Such a row gets the md5 of that
structure's text (a constant: md5 runs once); every other row (one giving a key twice among them) gets
`md5_number(json_structure(traits))`, as before. A structure with an empty object, an array or keys given twice
(json_structure writes "JSON" or a list there, which json_type does not tell) is never told the cheap way.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from segmarketo_cli.engine import sql_text

FAST_SHAPES = 4  # structures told by the cheap test, most common first (a row of none of them pays for each test)
SAMPLE = 10_000  # rows whose structures are counted
_LEAF_TYPES = frozenset({"VARCHAR", "BIGINT", "UBIGINT", "DOUBLE", "BOOLEAN", "NULL"})  # as json_type names them
SHAPE = "md5_number(json_structure(traits))"


class _NotTold(Exception):
    """A structure the cheap test cannot tell."""


def shape_sql(con: duckdb.DuckDBPyConnection, rows: str) -> str:
    """SQL of the shape of `traits` (JSON text of an object) for the rows of the query `rows`, which has that
    column; equal to SHAPE on every row."""
    found = con.execute(f"SELECT json_structure(traits) AS s, count(*) AS n FROM ({rows} LIMIT {SAMPLE}) "
                        f"GROUP BY s ORDER BY n DESC, s LIMIT {FAST_SHAPES}").fetchall()
    whens = []
    for (text, _) in found:
        test = conforms(str(text))
        if test is not None:
            whens.append(f"WHEN {test} THEN md5_number({sql_text(str(text))})")
    return f"CASE {' '.join(whens)} ELSE {SHAPE} END" if whens else SHAPE


def conforms(structure: str) -> str | None:
    """SQL true when json_structure(traits) is `structure` (json_structure's text) and the traits give no key twice
    in one object (json_structure merges those: such rows take the json_structure way), false otherwise; None when
    no such cheap test exists for it."""
    try:
        tree = json.loads(structure, object_pairs_hook=_unique)
        if not isinstance(tree, dict) or not tree:
            return None
        objects: list[tuple[str, list[str]]] = []
        leaves: list[tuple[str, str]] = []
        _walk(tree, "", objects, leaves)
    except _NotTold:
        return None
    keys = ", ".join(sql_text(pointer) for pointer, _ in objects)
    key_lists = ", ".join("[" + ", ".join(sql_text(key) for key in names) + "]" for _, names in objects)
    paths = ", ".join(sql_text(pointer) for pointer, _ in leaves)
    types = ", ".join(sql_text(kind) for _, kind in leaves)
    return f"(json_keys(traits, [{keys}]) = [{key_lists}] AND json_type(traits, [{paths}]) = [{types}])"


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise _NotTold
    return dict(pairs)


def _walk(node: dict[str, Any], pointer: str, objects: list[tuple[str, list[str]]],
          leaves: list[tuple[str, str]]) -> None:
    """Every object of `node` (its JSON pointer and keys) and every leaf (pointer and type), in order."""
    objects.append((pointer, list(node)))
    for key, value in node.items():
        child = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
        if isinstance(value, dict) and value:
            _walk(value, child, objects, leaves)
        elif isinstance(value, str) and value in _LEAF_TYPES:
            leaves.append((child, value))
        else:  # an empty object or keys twice ("JSON"), an array (a list)
            raise _NotTold
