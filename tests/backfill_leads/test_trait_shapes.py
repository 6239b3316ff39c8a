"""trait_shapes.shape_sql: the cheap test of the common structures gives every row exactly md5(json_structure)."""

from __future__ import annotations

import json

import duckdb
import pytest

from segmarketo_cli.jobs.backfill_leads.trait_shapes import LEAVES, conforms, keys_once, shape_sql, told

BASE = '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":null}'
VARIANTS = [
    BASE,
    '{"email":"b@example.com","n":7,"c":{"x":"q","z":3},"a/b":false,"t~":null}',  # same structure
    '{"email":"a@example.com","n":-1,"c":{"x":"y","z":2},"a/b":true,"t~":null}',  # BIGINT, not UBIGINT
    '{"email":"a@example.com","n":1.5,"c":{"x":"y","z":2},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":1e400,"c":{"x":"y","z":2},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":99999999999999999999999,"c":{"x":"y","z":2},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":null,"c":{"x":"y","z":2},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":"1","c":{"x":"y","z":2},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":"true","t~":null}',
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":0}',
    '{"email":"a@example.com","c":{"x":"y","z":2},"a/b":true,"t~":null}',  # a key missing
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":null,"m":1}',  # a key more
    '{"n":1,"email":"a@example.com","c":{"x":"y","z":2},"a/b":true,"t~":null}',  # keys in another order
    '{"email":"a@example.com","n":1,"c":{"z":2,"x":"y"},"a/b":true,"t~":null}',  # nested keys in another order
    '{"email":"a@example.com","n":1,"c":{"x":"y"},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2,"w":3},"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":1,"c":{"x":{"y":1},"z":2},"a/b":true,"t~":null}',  # deeper
    '{"email":"a@example.com","n":1,"c":{},"a/b":true,"t~":null}',  # empty object
    '{"email":"a@example.com","n":1,"c":[],"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":1,"c":["x"],"a/b":true,"t~":null}',
    '{"email":"a@example.com","n":1,"c":"x","a/b":true,"t~":null}',  # a scalar where the object was
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":null,"n":2}',  # a key twice
    '{"email":"a@example.com","n":1,"c":{"x":"y","x":"w","z":2},"a/b":true,"t~":null}',
    '{"\\u0065mail":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":null}',  # an escaped key
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a~1b":true,"t~":null}',  # ~1 is not "/"
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~0":null}',
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"":null}',  # an empty key
    '{ "email" : "a@example.com", "n" : 1, "c" : { "x" : "y", "z" : 2 }, "a/b" : true, "t~" : null }',
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":null,"é":"ü"}',
    '{"email":"a@example.com","n":1,"c":{"x":"y","z":2},"a/b":true,"t~":[1,{"q":2}]}',
]


def key_count(text: str) -> int:
    """How many keys the objects of the JSON `text` give, a key given twice counted twice."""
    count = 0

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal count
        count += len(items)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return count


def key_twice(text: str) -> bool:
    """Whether an object of the JSON `text` gives a key twice."""
    seen: list[bool] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        seen.append(len({key for key, _ in items}) != len(items))
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return any(seen)


def written(text: str) -> str:
    """`text` as the JSON writer writes it (columnar.py loads the traits so: json_extract's text)."""
    return str(duckdb.connect().execute("SELECT json_extract(?, '$')::VARCHAR", [text]).fetchall()[0][0])


def shapes(texts: list[str], common: list[str]) -> tuple[list[tuple[str, int, int]], str]:
    """(traits, shape by shape_sql, md5_number(json_structure)) of each text, with `common` the sample's structures."""
    con = duckdb.connect()
    con.execute("CREATE TABLE sample (traits VARCHAR)")
    con.executemany("INSERT INTO sample VALUES (?)", [(text,) for text in common])
    sql = shape_sql(con, "SELECT traits FROM sample")
    con.execute("CREATE TABLE rows (i INTEGER, traits VARCHAR)")
    con.executemany("INSERT INTO rows VALUES (?, ?)", list(enumerate(texts)))
    return con.execute(f"SELECT traits, {sql.shape}, md5_number(json_structure(traits)) "
                       f"FROM (SELECT *, {sql.leaves} AS {LEAVES} FROM rows) ORDER BY i").fetchall(), sql.shape


@pytest.mark.parametrize("common", [[BASE], VARIANTS[:20], VARIANTS[16:]], ids=["one", "first", "last"])
@pytest.mark.parametrize("as_written", [True, False], ids=["written", "raw"])
def test_every_row_gets_the_md5_of_its_json_structure(common, as_written):
    """... but for the lowest bit, 0 only for the rows the cheap test told (their traits give no key twice); a row
    whose traits give a key twice gets the md5 of its own text (json_structure merges the key, Python keeps the
    last value: two such rows must not share a shape)."""
    texts = [written(text) for text in VARIANTS] if as_written else VARIANTS
    rows, sql = shapes(texts, common)
    assert sql.startswith("CASE WHEN")  # the cheap test is used
    told_rows = 0
    con = duckdb.connect()
    for traits, shape, built in rows:
        ((structure, own),) = con.execute("SELECT json_structure(?), md5_number(?)", [traits, traits]).fetchall()
        if as_written:  # every key of the JSON writer's text ends in '":'
            assert traits.count('":') == key_count(traits)
        if str(structure).count('":') != traits.count('":'):  # a key twice (or an array's objects) merged
            assert not told(shape), traits
            built = own
        assert shape >> 1 == built >> 1, traits
        if told(shape):
            told_rows += 1
            assert not key_twice(traits), traits
    assert told_rows >= 2 if as_written else told_rows >= 1


def test_the_cheap_test_tells_the_rows_of_its_structure_and_only_them():
    con = duckdb.connect()
    structure = con.execute("SELECT json_structure(?)", [BASE]).fetchall()[0][0]
    pointers: list[str] = []
    test = conforms(structure, pointers)
    assert test is not None
    leaves = ", ".join(f"'{pointer}'" for pointer in pointers)
    told_rows = []
    for traits in map(written, VARIANTS):
        ((told, same),) = con.execute(f"SELECT {test}, json_structure(traits) = ? FROM (SELECT traits, "
                                      f"json_extract(traits, [{leaves}]) AS {LEAVES} FROM (SELECT ? AS traits))",
                                      [structure, traits]).fetchall()
        if told:
            assert same, traits
        if same and not key_twice(traits):  # a key given twice (json_structure merges it) takes the json_structure way
            assert told, traits
        told_rows += [traits] if told else []
    assert told_rows == [BASE, VARIANTS[1], BASE, BASE]  # and the escaped key and the spaces, as written


@pytest.mark.parametrize("traits", ['{"c":{}}', '{"c":[]}', '{"c":[1]}', '{"a":1,"c":[1]}', '{"c":"x","c":1}', "{}",
                                    '{"a\\"b":1}', '{"a\\\\b":1}', '{"a\\tb":1}'])
def test_structures_the_text_or_json_type_cannot_tell_have_no_cheap_test(traits):
    structure = duckdb.connect().execute("SELECT json_structure(?)", [traits]).fetchall()[0][0]
    pointers = ["/kept"]
    assert conforms(structure, pointers) is None, json.loads(structure)
    assert pointers == ["/kept"]  # no leaf of a structure without a test is extracted


@pytest.mark.parametrize("traits, once", [
    ('{"a":[1,{"b":1,"b":2}],"e":{},"c":{"x":1,"y":"s"}}', True),  # inside an array: the mapper leaves it to Python
    ('{"a":[1],"e":{},"c":{"x":1,"x":2,"y":"s"}}', False),
    ('{"a":[1],"e":{},"c":{"x":1,"y":"s"},"c":{"x":1,"y":"s"}}', False),
    ('{"a":[1],"e":{},"c":{"x":1,"y":"s"},"a":[2]}', False),
    ('{"a":[],"e":{},"c":{"x":null,"y":"s"}}', True),
])
def test_keys_once_tells_traits_that_give_a_key_twice(traits, once):
    con = duckdb.connect()
    text = written(traits)
    structure = con.execute("SELECT json_structure(?)", [text]).fetchall()[0][0]
    pointers: list[str] = []
    test = keys_once(structure, pointers)
    assert test is not None
    leaves = ", ".join(f"'{pointer}'" for pointer in pointers) or "''"
    ((told,),) = con.execute(f"SELECT {test} FROM (SELECT traits, json_extract(traits, [{leaves}]) AS {LEAVES} "
                             "FROM (SELECT ? AS traits))", [text]).fetchall()
    assert told is once


def test_keys_once_has_no_test_for_a_key_the_writer_escapes():
    assert keys_once('{"a\\"b":"VARCHAR"}', []) is None
    assert keys_once('{"tab\\there":"VARCHAR"}', []) is None
