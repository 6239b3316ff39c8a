"""The shape of each plain identify's traits: the md5 of its `json_structure` (keys in order, nesting, value types),
what columnar.py compares within a person and sql_mapping.py maps a person by (docs/engine.md). Not a 64-bit hash:
traits come from clients, and two structures sharing a shape would map one's people by the other's plan.

Building the structure of every identify's traits costs more than parsing them, and an export's identifies share a
few structures. So the most common structures of a sample are told by a cheaper test that holds only when
`json_structure` would return that structure: one `json_extract` of every leaf of those structures (JSON pointers),
and the traits' text equal to the structure's keys in order with those leaves put in, as the JSON writer writes an
object (no spaces), each leaf of its structure's type (a JSON string starts with '"', a number's type is
`json_type` of its short text). Equal text proves the keys, their order and that no key is there twice (a leaf is
one value); the traits columnar.py loads are the JSON writer's text, and any other text only fails the test. Such
a row gets the md5 of that structure's text (a constant: md5 runs once); every other row gets
`md5_number(json_structure(traits))`. A structure with an empty object, an array, keys given twice or a key JSON
would escape is never told the cheap way.

The shape's lowest bit says which: 0 for a row the cheap test told (so its traits give no key twice, which
sql_mapping.py then need not test again), 1 for the others. Two rows of one structure, one told and one not (it
gives a key twice, which json_structure merges), so have different shapes: columnar.py leaves that person to the
graph, which reads the traits as Python does. Nor do two rows that are not told share a shape when one gives a key
twice (SHAPE): that one's shape is the md5 of its text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from segmarketo_cli.engine import sql_text

FAST_SHAPES = 4  # structures told by the cheap test, most common first (a row of none of them pays for each test)
SAMPLE = 10_000  # rows whose structures are counted
# A shape not told: its lowest bit 1, the md5 of json_structure, or of the traits' own text when they give a key
# twice (json_structure merges it, so two rows of one structure could differ in what Python reads). Every key of the
# JSON writer's text is followed by '":', and merging (of a key twice, or of an array's objects) only takes keys
# away, so the structure has as many as the text only when nothing was merged; a '":' inside a string only makes a
# row's shape its own, which leaves its person to the graph.
_KEYS = "strlen({text}) - strlen(replace({text}, '\":', ''))"
SHAPE = (f"(md5_number(CASE WHEN {_KEYS.format(text='json_structure(traits)')} = {_KEYS.format(text='traits')} "
         "THEN json_structure(traits) ELSE traits END) | 1::UHUGEINT)")
SHAPE_KEYS_ONCE = "(md5_number(json_structure(traits)) | 1::UHUGEINT)"  # SHAPE of traits known to give no key twice
_TOLD = "(md5_number({structure}) & ~(1::UHUGEINT))"  # the shape of a row the cheap test told: its lowest bit 0
LEAVES = "shape_leaves"  # the column of the leaves' JSON text (ShapeSql.leaves)
# A leaf's text is of this json_type; a double's is not a nan/inf literal (so told traits hold none: columnar.py).
_LEAF_TESTS = {"VARCHAR": "starts_with({v}, '\"')", "BOOLEAN": "{v} IN ('true', 'false')", "NULL": "{v} = 'null'",
               "BIGINT": "json_type({v}) = 'BIGINT'", "UBIGINT": "json_type({v}) = 'UBIGINT'",
               "DOUBLE": "json_type({v}) = 'DOUBLE' AND NOT regexp_matches({v}, '[iInN]')"}
_PLAIN_KEY = re.compile(r'[^"\\\x00-\x1f]*')  # no '"', '\\' or control character: the JSON writer writes it as it is


class _NotTold(Exception):
    """A structure the cheap test cannot tell."""


@dataclass(frozen=True)
class ShapeSql:
    """SQL of the shape of `traits`: `leaves` (a list, selected as LEAVES in a subquery) and `shape`, which reads
    `traits` and LEAVES."""

    leaves: str
    shape: str


def shape_sql(con: duckdb.DuckDBPyConnection, rows: str) -> ShapeSql:
    """SQL of the shape of `traits` (JSON text of an object) for the rows of the query `rows`, which has that
    column: md5_number(json_structure(traits)) but for its lowest bit, which is 0 when the cheap test told it."""
    found = con.execute(f"SELECT json_structure(traits) AS s, count(*) AS n FROM ({rows} LIMIT {SAMPLE}) "
                        f"GROUP BY s ORDER BY n DESC, s LIMIT {FAST_SHAPES}").fetchall()
    pointers: list[str] = []
    whens = []
    for (text, _) in found:
        test = conforms(str(text), pointers)
        if test is not None:
            whens.append(f"WHEN {test} THEN {_TOLD.format(structure=sql_text(str(text)))}")
    if not whens:
        return ShapeSql("NULL", SHAPE)
    leaves = f"json_extract(traits, [{', '.join(sql_text(pointer) for pointer in pointers)}])"
    return ShapeSql(leaves, f"CASE {' '.join(whens)} ELSE {SHAPE} END")


def told(shape: int) -> bool:
    """Whether a row of this shape was told by the cheap test (its traits give no key twice)."""
    return not shape & 1


def conforms(structure: str, pointers: list[str]) -> str | None:
    """SQL true when json_structure(traits) is `structure` (json_structure's text) and the traits give no key twice
    in one object (json_structure merges those: such rows take the json_structure way), false otherwise; None when
    no such cheap test exists for it. The leaves it reads are LEAVES[i], i a place in `pointers` (the leaves' JSON
    pointers, to which it adds its own only when it has a test)."""
    tests: list[str] = []
    parts = _rebuilt(structure, pointers, tests)
    return None if parts is None else f"(traits = concat({', '.join(parts)}) AND {' AND '.join(tests)})"


def keys_once(structure: str, pointers: list[str]) -> str | None:
    """SQL true when traits whose json_structure is `structure` give no key twice in any object outside an array
    (json_structure merges a key given twice; json_extract reads the first value, Python's json.loads the last):
    their text is the structure's keys in order with each leaf's text put in, arrays and empty objects whole. None
    when a key is one the JSON writer escapes. Leaves as in `conforms`."""
    parts = _rebuilt(structure, pointers, None)
    return None if parts is None else f"(traits = concat({', '.join(parts)}))"


def _rebuilt(structure: str, pointers: list[str], tests: list[str] | None) -> list[str] | None:
    """concat's arguments rebuilding the text of traits of `structure` (see `_walk`; `tests` None: no type tests),
    or None when that cannot be done; the leaves it reads are added to `pointers` only then."""
    try:
        tree = json.loads(structure, object_pairs_hook=_unique)
        if not isinstance(tree, dict) or (tests is not None and not tree):
            return None
        parts: list[str] = []
        read = list(pointers)
        _walk(tree, "", parts, tests, read)
    except _NotTold:
        return None
    pointers[:] = read
    return parts


def leaf_in(pointers: list[str], pointer: str) -> str:
    """SQL of the JSON text of the leaf at `pointer`: its place in LEAVES, the leaves extracted at `pointers` (it is
    added there when new)."""
    if pointer not in pointers:
        pointers.append(pointer)
    return f"{LEAVES}[{pointers.index(pointer) + 1}]"


def leaf_pointer(path: list[str]) -> str:
    """The JSON pointer of the trait at `path` (its keys from the top)."""
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in path)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs) or not all(_PLAIN_KEY.fullmatch(key) for key, _ in pairs):
        raise _NotTold
    return dict(pairs)


def _walk(node: dict[str, Any], pointer: str, parts: list[str], tests: list[str] | None, pointers: list[str]) -> None:
    """The object `node` as concat's arguments (its text with every leaf's LEAVES[i]), and each leaf's type test
    (`tests` None: no type tests, and an array, an empty object or a "JSON" leaf is a leaf like any other)."""
    if not node:
        parts.append("'{}'")
        return
    for index, (key, value) in enumerate(node.items()):
        parts.append(sql_text(("{" if index == 0 else ",") + f'"{key}":'))
        child = pointer + leaf_pointer([key])
        if isinstance(value, dict) and value:
            _walk(value, child, parts, tests, pointers)
            continue
        if tests is not None and not (isinstance(value, str) and value in _LEAF_TESTS):
            raise _NotTold  # an empty object or keys twice ("JSON"), an array (a list): json_type cannot tell
        leaf = leaf_in(pointers, child)
        parts.append(leaf)
        if tests is not None:
            tests.append(_LEAF_TESTS[str(value)].format(v=leaf))
    parts.append("'}'")
