"""backfill-leads people read by DuckDB: the plain identifies of JSON-lines inputs are parsed, checked and merged in
SQL; every other line goes through the Python reader and identity graph as before (docs/engine.md, "The columnar
read").

1. Load: DuckDB reads each file once, as lines (read_csv, one column), numbered in input order (and its first
   identifies before, for their common key sequences; see _skeleton_sql). Each line is
   skipped (read_jsonl's filter skips it unparsed; its text is not kept), plain (an identify every field of which
   the Python reader reads the same way, see PLAIN: parsed from its text by one json_extract) or left to Python
   (anything else, its text kept). A file whose lines DuckDB might number differently from read_jsonl (a blank
   line, a carriage return, a gzip of several members...) is not read this way: the whole input then goes through
   the Python reader (Unreadable).
2. The Python lines go through the reader's own steps in input order (line_item, take_item, IdentityGraph.links):
   their counts, rejects and staged records are what the Python path gives.
3. Every record is numbered in input order as the graph numbers it. A person whose messages are all plain
   identifies sharing their first node (the hub), whose nodes appear in no other message, and whose traits all
   have one shape is built from SQL aggregates: ids in first-seen order, counts, times, and the traits of the
   latest identify (timestamp, then input order), folded as the graph folds them. That is the person the graph
   builds: every message joins the hub's root, and traits of one shape are won whole by the latest message.
4. A hub that would be simple but for its traits changing shape is folded: its identifies, read back in input
   order, folded into a person of its own as the graph folds them (no staging, no labels); unless (nulls kept)
   every identify's trait paths begin the latest one's, which then wins them all, or are the e-mail and then the
   beginning of the latest one's, which has no e-mail (later updates sent without it): that person is simple. Everyone
   else (aliases, Munchkin cookies, shared e-mails...) is staged, labelled and replayed by the engine path's own
   steps (staging.py, components.py, replay.py), numbered as in the whole input.
5. The plan on the engine first has SQL map the simple people it can (ColumnarPeople.map_simple, sql_mapping.py);
   the people left (simple ones SQL leaves, the folded and the replayed) come as Person objects, in people order.
"""

from __future__ import annotations

import heapq
import itertools
import json
import operator
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from segmarketo_cli.engine import Columns, Engine, create, insert_columns, sql_text
from segmarketo_cli.identity import IDENTIFY, IdentityGraph, Links, Person, Trait
from segmarketo_cli.jobs.backfill_leads.components import label_components
from segmarketo_cli.jobs.backfill_leads.messages import MESSAGE_BUCKETS, might_matter, take_item
from segmarketo_cli.jobs.backfill_leads.plan import Ownership
from segmarketo_cli.jobs.backfill_leads.plan_table import ATTACH, PLAN_PEOPLE, SQL_PEOPLE, stream
from segmarketo_cli.jobs.backfill_leads.records import Tee, dump_record
from segmarketo_cli.jobs.backfill_leads.replay import replay_people
from segmarketo_cli.jobs.backfill_leads.sizing import ISIZE_WRAP, gzip_isize
from segmarketo_cli.jobs.backfill_leads.sql_mapping import leaves, map_in_sql, shape_gate
from segmarketo_cli.jobs.backfill_leads.staging import MessageStage
from segmarketo_cli.jobs.backfill_leads.trait_shapes import LEAVES, SAMPLE, SHAPE_KEYS_ONCE, shape_sql
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.mapping.mapper import Mapper
from segmarketo_cli.sources import InputFile
from segmarketo_cli.sources.jsonlines import line_item, parse_line
from segmarketo_cli.timeparse import message_time

POS_BITS = 40  # a line's place in the input: file index << POS_BITS | line number
LINE_MASK = (1 << POS_BITS) - 1
ONE_THREAD_BELOW = 256 << 20  # below this memory_limit the read runs on one DuckDB thread, files in smaller blocks
PLAIN_TABLE = "backfill.col_plain"  # pos, hub, u, a, e, ts, traits, shape: the plain identifies
PYTHON_LINES = "backfill.col_python_lines"  # pos, line, whole (false: the last line, no newline after it)
PYTHON_RECORDS = "backfill.col_python"  # pos, identify, nodes, body: records of the Python lines
RECORDS = "backfill.col_records"  # pos, identify, seq, fold: every record numbered as the graph numbers it
COMPLEX = "backfill.col_complex"  # hubs whose people are replayed by the graph
FOLDED_HUBS = "backfill.col_folded_hubs"  # hubs that are simple but for their traits' shapes
FOLDED = "backfill.col_folded"  # their identifies, in people order (FOLDED_PEOPLE)
SIMPLE = "backfill.col_simple"  # one row per simple person (SIMPLE_PEOPLE)
FILES = "backfill.col_files"  # file, name: the input files by index (for origins in SQL)
MAPPED = "backfill.col_mapped"  # first_fold: the simple people map_simple mapped in SQL
EMAIL_HUBS = "backfill.col_email_hubs"  # hub, email_ts, email_fold: simple with the e-mail of an earlier identify
TABLES = (PLAIN_TABLE, PYTHON_LINES, PYTHON_RECORDS, RECORDS, COMPLEX, FOLDED_HUBS, FOLDED, SIMPLE, FILES, MAPPED,
          EMAIL_HUBS, "backfill.col_nodes", "backfill.col_hubs",
          "backfill.col_tee_plain", "backfill.col_tee_python")

_FIELDS = ("type", "userId", "anonymousId", "timestamp", "traits", "context", "properties", "event", "messageId",
           "previousId")  # the top-level keys the Python reader looks at in an identify (shape_problem, links, time)
# read_jsonl's filter (`might_matter`): a line is searched for a needle only when it holds a part of it no longer
# than 8 bytes (DuckDB compares those a word at a time: several times faster than its search for a longer needle, or
# an RE2 search for all three, on the many lines of an export that hold none), each WHEN only on the lines no
# earlier one took.
_NEEDLE_PARTS = {b'"identify"': 'dentify"', b'"alias"': 'alias"', b"marketoCookie": "Cookie"}


def _holds(needle: bytes) -> str:
    """SQL (for a WHEN, which asks its second half only of the rows the first keeps): `line` holds `needle`."""
    return f"contains(line, {sql_text(_NEEDLE_PARTS[needle])}) AND contains(line, {sql_text(needle.decode())})"


_WANTED = "CASE " + " ".join(f"WHEN {_holds(needle)} THEN true" for needle in might_matter.needles) + " ELSE false END"
# A line DuckDB would read differently from Python's json.loads, or Python could fail on: a trailing comma or a
# nan/inf literal in any case (DuckDB accepts them, Python only NaN and Infinity), or nesting deep enough for Python's
# recursion limit (_DEEP). Each search starts with one literal byte, which RE2 finds with memchr. A line that is its
# own fields as DuckDB writes them back (`ident`, _skeleton_sql) needs none of them, only `nan_in` of some fields.
_PYTHON_ONLY = ("regexp_matches(line, ',[ \\t\\r]*([]}]|[-+]?(?i:nan|inf))') "
                "OR regexp_matches(line, ':[ \\t\\r]*[-+]?(?i:nan|inf)') "
                "OR regexp_matches(line, '\\[[ \\t\\r]*[-+]?(?i:nan|inf)')")
_DEEP = ("CASE WHEN strlen(line) >= 1000 "
         "THEN strlen(line) - strlen(replace(replace(line, '{', ''), '[', '')) >= 500 ELSE false END")
# A Munchkin cookie (identity.marketo_cookie reads context.Marketo.marketoCookie) is for Python too: searched in the
# JSON writer's text of `context` (keys written out plain, so an escaped one is found), not in the whole line.
_COOKIE = "contains(j_context, 'marketoCookie')"
# Keys twice in an object (Python keeps the last value, DuckDB's json_extract the first): a key the Python reader
# uses at the top of the message, or `email` at the top of its traits (_UNTOLD_TO_PYTHON). json_keys gives every key
# at the top, decoded (an escaped "\u0074ype" is "type"): when there are as many as the distinct keys json_extract
# read at the top (`{found}` counts them: _FIELDS and the file's common keys, see _skeleton_sql), none is there twice;
# else its text, like [type, userId, 'a,b'], is searched (a plain key sits between '[' or ' ' and ',' or ']').
_TWICE = "[[ ]{0}[],].*[[ ]{0}[],]"
_DUPLICATE_KEYS = ("CASE WHEN ident OR len(keys) = ({found}) THEN false "
                   "ELSE regexp_matches(keys::VARCHAR, '" +
                   "|".join(_TWICE.format(name) for name in _FIELDS) + "') END")
_ISO = (r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
        r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])")
_ID = r"[!-~](.*[!-~])?"  # printable ASCII, no space at either end: str.strip() leaves it as it is
_EMAIL = "[!-?A-~]+@[!-?A-~]+[.][!-?A-~]+"  # printable ASCII, no space, one '@' (identity.EMAIL_RE), no trimming
_NUMBERS = "'BIGINT', 'UBIGINT', 'DOUBLE'"
SKIP, PLAIN_KIND, PYTHON = 0, 1, 2  # col_raw.kind: skipped unparsed, a plain identify, a line for Python
_STARTS = {"string": '"', "object": "{"}  # how the JSON writer's text of a value of this type starts


def _absent_or(name: str, kind: str, types: str = "") -> str:
    """`name` (a field's JSON text, NULL when the key is absent) is absent, null, of JSON type `kind` (told by its
    text's first character) or one of the JSON `types`."""
    typed = f" OR json_type({name}) IN ({types})" if types else ""
    return f"({name} IS NULL OR {name} = 'null' OR starts_with({name}, '{_STARTS[kind]}'){typed})"


def _id_ok(name: str, text: str) -> str:
    """The id `name` (decoded from its JSON `text`) is absent, null, or text that str.strip() leaves as it is."""
    return f"({text} IS NULL OR {text} = 'null' OR regexp_full_match({name}, '{_ID}'))"


# No e-mail anywhere identity.find_email looks (keep the two in step) when the traits have none: no 'mail' in any
# case in the context (its `traits`, `externalIds`) or the properties as DuckDB writes them back (keys and values
# unescaped), and an id for a node.
_NO_EMAIL = ("coalesce(NOT contains(lower(j_context), 'mail'), true) "
             "AND coalesce(NOT contains(lower(j_properties), 'mail'), true) AND (u IS NOT NULL OR a IS NOT NULL)")
# An identify the Python reader would find no problem in (shape_problem, message_problem), whose ids need no
# trimming, whose time is ISO-8601 text both read alike and whose traits are an object with a valid `email` needing
# no trimming (so find_email takes it) or with no `email` key and no address anywhere else (_NO_EMAIL), and nothing
# in the line is for Python only (_PYTHON_ONLY): the type tests on the fields' text first, the searches only on the
# lines that pass them. It is plain when no key it uses appears twice (_DUPLICATE_KEYS; `email` in the traits:
# _UNTOLD_TO_PYTHON).
PLAIN = f"""CASE WHEN j_type = '"identify"' AND starts_with(traits, '{{') AND coalesce(starts_with(j_email, '"'), true)
               AND starts_with(j_ts, '"') AND {_absent_or('j_u', 'string')} AND {_absent_or('j_a', 'string')}
               AND {_absent_or('j_context', 'object')} AND {_absent_or('j_properties', 'object')}
               AND {_absent_or('j_event', 'string')} AND {_absent_or('j_message', 'string', _NUMBERS)}
               AND {_absent_or('j_previous', 'string', _NUMBERS)}
          THEN {_id_ok('u', 'j_u')} AND {_id_ok('a', 'j_a')} AND regexp_full_match(ts_text, '{_ISO}')
               AND ts IS NOT NULL
               AND CASE WHEN j_email IS NULL THEN {_NO_EMAIL} ELSE regexp_full_match(email, '{_EMAIL}') END
               AND NOT (CASE WHEN ident THEN false ELSE {_PYTHON_ONLY} END) AND NOT {_DEEP}
               AND NOT coalesce({_COOKIE}, false)
          ELSE false END"""


def nan_in(value: str) -> str:
    """SQL: the JSON writer's text `value` (compact: no space outside strings, no trailing comma) may hold a nan/inf
    literal (DuckDB writes one back as it was written). In an object one follows a ':', or a ',' or '[' in an array;
    a scalar is one. A string holds none; a false alarm (such text inside a string) only leaves a line to Python."""
    return (f"""CASE WHEN starts_with({value}, '"') THEN false
                     WHEN starts_with({value}, '{{') OR starts_with({value}, '[')
                     THEN regexp_matches({value}, ':[-+]?(?i:nan|inf)') OR CASE WHEN contains({value}, '[')
                          THEN regexp_matches({value}, '[,[][-+]?(?i:nan|inf)') ELSE false END
                     ELSE regexp_matches({value}, '^[-+]?(?i:nan|inf)') END""")


# Traits the cheap shape test did not tell (the shape's lowest bit 1; told ones give no key twice and hold no nan/inf
# literal: trait_shapes.py) may give `email` twice at their top (the JSON writer's text, where every key is written
# out plain and followed by ':': `mail":` twice is a cheap test, memchr finding the rare 'm', that `"email":` twice
# would pass) or hold a nan/inf literal (see below): such a plain identify is left to Python once its shape is known.
_UNTOLD_TO_PYTHON = f"""(shape & 1::UHUGEINT) = 1 AND (traits LIKE '%mail":%mail":%' OR {nan_in('traits')})"""
# A line that is one of the file's most common key sequences (_skeletons) with each field's text as DuckDB's JSON
# writer writes it back (`ident`, _skeleton_sql) has those keys once each and no other, no space outside a string and
# no trailing comma: json_keys and the line's searches (_PYTHON_ONLY) are not needed, which is most of an export's
# identifies (Segment writes compact JSON). The writer keeps a nan/inf literal as it was written, so one is in a
# field's text: `ident` searches the fields that may hold one (nan_in), but for these (PLAIN: strings or null) and
# the traits, which are searched once their shape is known (_UNTOLD_TO_PYTHON).
_NO_NAN = ("type", "userId", "anonymousId", "timestamp", "event", "traits")
_COLUMNS = {"type": "j_type", "userId": "j_u", "anonymousId": "j_a", "timestamp": "j_ts", "traits": "traits",
            "context": "j_context", "properties": "j_properties", "event": "j_event", "messageId": "j_message",
            "previousId": "j_previous"}  # the load's column of each of _FIELDS
_FIELD_COLUMNS = ", ".join(f"'{column}': f[{_FIELDS.index(key) + 1}]{'::VARCHAR' if key == 'traits' else ''}"
                           for key, column in _COLUMNS.items())
# One scan of the file's lines (see the module, point 1): each line's number, size and kind, the text of the lines
# left to Python and the fields of the plain identifies. A skipped line keeps no text; json_extract's list form
# parses a line once for all its paths, and try() makes a line DuckDB cannot parse NULL (left to Python).
LINES = f"""
    CREATE OR REPLACE TEMP TABLE col_raw AS
    WITH lines AS (
        SELECT ordinality AS n, coalesce(strlen(line), 0) AS size, line,
               coalesce(NOT (starts_with(line, '{{') AND ends_with(line, '}}')), true) AS odd,
               coalesce({_WANTED}, false) AS wanted
        FROM {{csv}} WITH ORDINALITY),
    parsed AS (
        SELECT n, size, line, wanted, odd,
               CASE WHEN wanted AND NOT odd THEN try(json_extract(line, [{{paths}}])) END AS f
        FROM lines),
    fields AS (
        SELECT n, size, line, wanted, odd, f, p.*
        FROM (SELECT n, size, line, wanted, odd, f, CASE WHEN f IS NOT NULL THEN {{
                  {_FIELD_COLUMNS}, 'j_email': f[-1], {{more}}
                  'u': CASE WHEN starts_with(f[2], '"') THEN f[2] ->> '$' END,
                  'a': CASE WHEN starts_with(f[3], '"') THEN f[3] ->> '$' END, 'email': f[-1] ->> '$',
                  'ts_text': f[4] ->> '$'}} END AS p
              FROM parsed)),
    identical AS (
        SELECT *, epoch_us(try_cast(ts_text AS TIMESTAMPTZ)) / 1e6 AS ts, {{ident}} AS ident FROM fields),
    checked AS (
        SELECT n, size, line, wanted, odd, f, u, a, email, ts, traits, ident,
               coalesce({PLAIN}, false) AS looks_plain
        FROM identical),
    keyed AS (
        SELECT *, CASE WHEN looks_plain AND NOT ident THEN json_keys(line) END AS keys FROM checked),
    kinds AS (
        SELECT n, size, line, u, a, lower(email) AS e, ts, traits,
               CASE WHEN NOT wanted AND NOT odd THEN {SKIP}
                    WHEN looks_plain AND NOT {_DUPLICATE_KEYS} THEN {PLAIN_KIND} ELSE {PYTHON} END AS kind
        FROM keyed)
    SELECT n, size, kind, CASE WHEN kind = {PYTHON} THEN line END AS line,
           CASE WHEN kind = {PLAIN_KIND} THEN coalesce('u:' || u, 'a:' || a, 'e:' || e) END AS hub,
           CASE WHEN kind = {PLAIN_KIND} THEN u END AS u, CASE WHEN kind = {PLAIN_KIND} THEN a END AS a,
           CASE WHEN kind = {PLAIN_KIND} THEN e END AS e, CASE WHEN kind = {PLAIN_KIND} THEN ts END AS ts,
           CASE WHEN kind = {PLAIN_KIND} THEN traits END AS traits
    FROM kinds"""
# Each line one field: the delimiter is a raw control character (chr(1)), which JSON text never holds unescaped. (DuckDB
# reads '\0' as the two characters backslash and zero, which a JSON string can hold: "C:\\0", and then declined the
# whole input.)
CSV = ("read_csv({path}, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1), quote = '', escape = '', "
       "auto_detect = false, new_line = '\\n', compression = '{compression}'{buffer})")
SMALL_BUFFER = ", buffer_size = 4194304"  # below ONE_THREAD_BELOW: the default is a 32 MB block
NUMBER = f"""
    CREATE OR REPLACE TABLE {RECORDS} AS
    SELECT pos, identify, row_number() OVER w AS seq,
           CASE WHEN identify THEN CAST(sum(identify::INT) OVER w AS BIGINT) END AS fold
    FROM (SELECT pos, true AS identify FROM {PLAIN_TABLE} UNION ALL SELECT pos, identify FROM {PYTHON_RECORDS})
    WINDOW w AS (ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""
# A hub is complex when one of its nodes is shared with another hub (a plain identify's userId node is its hub, so
# only its anonymousId and e-mail can be) or a Python record has it: its messages are replayed by the graph. A node
# two hubs share makes both complex, so the complex hubs hold whole components. A hub that is not, but whose traits
# change shape (json_structure: keys in order, value types, nesting), is folded: its identifies, every one of which
# joins the hub's root in the graph and nothing else, are folded in input order into a person of its own. One
# grouping of the plain identifies by hub finds both its ids and its shapes changing (col_hubs).
FIND_COMPLEX = f"""
    CREATE OR REPLACE TABLE backfill.col_nodes AS
    SELECT DISTINCT unnest(nodes) AS node FROM {PYTHON_RECORDS};
    CREATE OR REPLACE TABLE backfill.col_hubs AS
    SELECT hub, min(e) <> max(e) OR min(a) <> max(a) AS ids, min(shape) <> max(shape) AS shapes
    FROM {PLAIN_TABLE} GROUP BY hub HAVING ids OR shapes;
    CREATE OR REPLACE TABLE {COMPLEX} AS
    SELECT hub FROM backfill.col_hubs WHERE ids
    UNION SELECT hub FROM {PLAIN_TABLE} WHERE a IN (
        SELECT a FROM {PLAIN_TABLE} WHERE a IS NOT NULL GROUP BY a HAVING min(hub) <> max(hub))
    UNION SELECT hub FROM {PLAIN_TABLE} WHERE e IN (
        SELECT e FROM {PLAIN_TABLE} GROUP BY e HAVING min(hub) <> max(hub))
    UNION SELECT hub FROM {PLAIN_TABLE} WHERE 'u:' || u IN (SELECT node FROM backfill.col_nodes)
        OR 'a:' || a IN (SELECT node FROM backfill.col_nodes) OR 'e:' || e IN (SELECT node FROM backfill.col_nodes)
    UNION SELECT nodes[1] FROM {PYTHON_RECORDS};
    DROP TABLE backfill.col_nodes;
    CREATE OR REPLACE TABLE {FOLDED_HUBS} AS
    SELECT hub FROM backfill.col_hubs WHERE shapes EXCEPT SELECT hub FROM {COMPLEX};
    DROP TABLE backfill.col_hubs"""
# The records the graph replays (in any order: the replay sorts them), without their traits or bodies in a join.
COMPLEX_RECORDS = (
    f"""SELECT p.pos, r.seq, r.fold, p.u, p.a, p.e, p.ts, p.traits, NULL AS nodes, NULL AS body
        FROM {PLAIN_TABLE} p JOIN {RECORDS} r USING (pos) WHERE p.hub IN (SELECT hub FROM {COMPLEX})""",
    f"""SELECT y.pos, r.seq, r.fold, NULL, NULL, NULL, NULL, NULL, y.nodes, y.body
        FROM {PYTHON_RECORDS} y JOIN {RECORDS} r USING (pos)""")
# Every record in input order (for the people store): each kind sorted on its own, merged by `pos` in Python.
ALL_RECORDS = (
    f"""SELECT p.pos, r.seq, r.fold, p.u, p.a, p.e, p.ts, p.traits, NULL AS nodes, NULL AS body
        FROM {PLAIN_TABLE} p JOIN {RECORDS} r USING (pos) ORDER BY p.pos""",
    f"""SELECT y.pos, r.seq, r.fold, NULL, NULL, NULL, NULL, NULL, y.nodes, y.body
        FROM {PYTHON_RECORDS} y JOIN {RECORDS} r USING (pos) ORDER BY y.pos""")
# A simple person: the hub's messages all carry the same ids (the userId node is the hub, so only the
# anonymousId and the e-mail could differ; a hub where they do is complex), so every id list has one entry, and the
# latest identify (by timestamp, then input order) wins the traits, the last-seen time and the latest userId: the
# person is that identify folded alone, with the first identify's number and origin and the count of them all.
# One max() of (ts, fold, pos) finds the latest: structs compare field by field, and no two records share a fold.
# A hub of EMAIL_HUBS (see _latest_wins_all) has the traits of its latest identify with the e-mail put first, and the
# e-mail's own time and number (email_ts, email_fold; NULL for every other person); its shape is their structure's
# (_latest_wins_all promotes no hub whose identifies give a key twice).
SIMPLE_PEOPLE = f"""
    SELECT * EXCLUDE (email_first) REPLACE (CASE WHEN email_first THEN {SHAPE_KEYS_ONCE} ELSE shape END AS shape)
    FROM (
    SELECT w.first_fold, w.first_pos, w.identifies, w.u, w.a, w.e, w.latest.ts, w.latest.fold AS seq,
           CASE WHEN x.hub IS NULL THEN p.traits
                ELSE '{{"email":' || to_json(w.e) || CASE WHEN p.traits = '{{}}' THEN '}}' ELSE ',' || p.traits[2:] END
           END AS traits,
           p.shape, x.hub IS NOT NULL AS email_first, x.email_ts, x.email_fold
    FROM (SELECT p.hub, min(r.fold) AS first_fold, min(p.pos) AS first_pos, count(*) AS identifies, max(p.u) AS u,
                 max(p.a) AS a, max(p.e) AS e, max({{'ts': p.ts, 'fold': r.fold, 'pos': p.pos}}) AS latest
          FROM {PLAIN_TABLE} p JOIN {RECORDS} r USING (pos)
          WHERE p.hub NOT IN (SELECT hub FROM {COMPLEX}) AND p.hub NOT IN (SELECT hub FROM {FOLDED_HUBS})
          GROUP BY p.hub) w
    JOIN {PLAIN_TABLE} p ON p.pos = w.latest.pos LEFT JOIN {EMAIL_HUBS} x ON x.hub = w.hub)"""
# The folded hubs' identifies (see FIND_COMPLEX), each with its person's first fold, in people order then input order.
FOLDED_PEOPLE = f"""
    SELECT min(r.fold) OVER (PARTITION BY p.hub) AS first_fold, r.fold, p.pos, p.u, p.a, p.e, p.ts, p.traits
    FROM {PLAIN_TABLE} p JOIN {RECORDS} r USING (pos) WHERE p.hub IN (SELECT hub FROM {FOLDED_HUBS})
    ORDER BY first_fold, fold"""
# shape: the traits' json_structure (keys in order, nesting, value types) as its md5 (trait_shapes.py), what
# FIND_COMPLEX compares within a hub and what sql_mapping.py maps a simple person by
_PLAIN_SCHEMA = ("pos BIGINT, hub VARCHAR, u VARCHAR, a VARCHAR, e VARCHAR, ts DOUBLE, traits VARCHAR, "
                 "shape UHUGEINT")
_PYTHON_SCHEMA = Columns(("pos", "int64"), ("identify", "bool"), ("nodes", "list<string>"), ("body", "binary"))
_CHUNK = 50_000
_EMPTY_TRAITS = '"JSON"'  # json_structure of the traits {} (a plain identify's traits are an object)
SKELETON_SAMPLE = 20_000  # lines at the start of a file whose identifies' key sequences _skeletons counts
MAX_SKELETONS = 4
_SKELETON_KEY = re.compile(r'[ !#-\[\]-~]+')  # a top-level key a skeleton may have: see _skeletons
MAX_FOLDED_SHAPES = 64  # the folded hubs' most common trait shapes _latest_wins_all compares (a hub with another stays)


class Unreadable(Exception):
    """A file the columnar read cannot take (a cut-off gzip, a batch DuckDB refuses): read it the Python way."""


def read_columnar(inputs: list[InputFile], *, nulls: str, report: RunReport, rejects: RejectsWriter,
                  progress: Callable[..., Any], engine: Engine, tee: Tee | None = None) -> ColumnarPeople | None:
    """read_people's people, counts and rejects, the plain identifies merged in SQL; None (nothing counted or
    rejected yet) when a file cannot be read this way."""
    reader = ColumnarRead(inputs, engine, nulls=nulls)
    with progress(None, "reading", unit="msg") as bar:
        try:
            reader.load(bar)
        except Unreadable:
            reader.drop()
            return None
        reader.python_lines(rejects)
    for bucket, n in reader.counts.items():
        report.add(bucket, n)
    reader.number()
    if tee is not None:
        reader.tee(tee)
    people = reader.people()
    report.details["people"] = reader.people_count
    return people


class ColumnarRead:
    """One run's columnar read: `load` the files, `python_lines`, `number`, then `people` (see the module)."""

    def __init__(self, inputs: list[InputFile], engine: Engine, *, nulls: str) -> None:
        self.inputs = inputs
        self.engine = engine
        self.con = engine.con
        self.nulls = nulls
        self.names = [str(source.path) for source in inputs]
        self.counts = dict.fromkeys(MESSAGE_BUCKETS, 0)
        self.people_count = 0
        self._graph = IdentityGraph(nulls=nulls)  # its links and fold, and the trait shapes it shares
        self.small = engine.memory_limit < ONE_THREAD_BELOW
        self._mapped = False  # whether map_simple put people in MAPPED
        self._email_first = False  # whether some simple people have the e-mail of an earlier identify (EMAIL_HUBS)
        ((self._threads,),) = self.con.execute("SELECT current_setting('threads')").fetchall()

    # ---- 1. load ------------------------------------------------------------------------------------------------
    def load(self, bar: Any) -> None:
        """Every line classified; the plain identifies in PLAIN_TABLE, the lines for Python in PYTHON_LINES."""
        con = self.con
        con.execute(ATTACH)
        con.execute(f"CREATE OR REPLACE TABLE {PLAIN_TABLE} ({_PLAIN_SCHEMA})")
        con.execute(f"CREATE OR REPLACE TABLE {PYTHON_LINES} (pos BIGINT, line VARCHAR, whole BOOLEAN)")
        if self.small:  # each reader thread takes its own block and each thread its own part of the table
            con.execute("SET threads = 1")
        try:
            for index, source in enumerate(self.inputs):
                bar.update(self._load_file(source, index << POS_BITS))
        except duckdb.Error as exc:
            raise Unreadable(str(exc)) from None
        finally:
            con.execute("DROP TABLE IF EXISTS col_raw")

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """DuckDB on one thread for the block's statements: each runs on one thread anyway (the numbered scan, a
        window over the whole input) or gains little wall time from a second one (FIND_COMPLEX's small groups),
        which costs more CPU than it saves (docs/engine.md, "Threads")."""
        self.con.execute("SET threads = 1")
        try:
            yield
        finally:
            if not self.small:  # a small memory_limit keeps one thread for the whole read (see `load`)
                self.con.execute(f"SET threads = {int(self._threads)}")

    def _load_file(self, source: InputFile, base: int) -> int:
        """One file read once and classified (see the module); its number of lines."""
        con = self.con
        path, compression = sql_text(str(source.path)), "gzip" if source.gzipped else "none"
        csv = CSV.format(path=path, compression=compression, buffer=SMALL_BUFFER if self.small else "")
        with self._one_thread():
            # (its first lines only: a small block decompresses less)
            skeleton = _skeleton_sql(_skeletons(con, CSV.format(path=path, compression=compression,
                                                                buffer=SMALL_BUFFER)))
            con.execute(skeleton.lines(csv))
        ((lines, blank, size, last_kind, skipped, plain),) = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE size = 0), coalesce(sum(size), 0), arg_max(kind, n), "
            f"count(*) FILTER (WHERE kind = {SKIP}), count(*) FILTER (WHERE kind = {PLAIN_KIND}) "
            "FROM col_raw").fetchall()
        if blank:
            raise Unreadable(f"{source.path}: lines DuckDB and read_jsonl may number differently")
        whole = _ends_with_newline(source, int(size) + lines)
        last = lines + 1 if whole else lines  # the last line without a newline goes to Python unfiltered
        params = {"base": base, "last": last}
        shape = shape_sql(con, _shape_sample(int(plain)))
        con.execute(f"INSERT INTO {PLAIN_TABLE} SELECT $base + n, hub, u, a, e, ts, traits, {shape.shape} "
                    f"FROM (SELECT *, {shape.leaves} AS {LEAVES} FROM col_raw "
                    f"WHERE kind = {PLAIN_KIND} AND n < $last)", params)
        con.execute(f"INSERT INTO {PYTHON_LINES} SELECT $base + n, line, n < $last FROM col_raw "
                    f"WHERE kind = {PYTHON}", params)
        demoted = self._untold_to_python(base)
        # the last line without a newline, when its text was not kept (a rare file), is read again too
        self._read_again(csv, params, demoted + ([last] if not whole and last_kind != PYTHON else []))
        if not whole:  # the last line is Python's, whatever its kind
            skipped -= last_kind == SKIP
            plain -= last_kind == PLAIN_KIND
        self.counts["messages_read"] += skipped + plain - len(demoted)
        self.counts["messages_ignored"] += skipped
        self.counts["messages_used"] += plain - len(demoted)
        return int(lines)

    def _untold_to_python(self, base: int) -> list[int]:
        """The numbers of the file's plain identifies whose traits may give `email` twice or hold a nan/inf literal
        (_UNTOLD_TO_PYTHON), taken out of PLAIN_TABLE: they are left to Python after all (_read_again)."""
        con = self.con
        found = [int(pos) for (pos,) in con.execute(
            f"SELECT pos FROM {PLAIN_TABLE} WHERE pos BETWEEN $base AND $base + {LINE_MASK} "
            f"AND {_UNTOLD_TO_PYTHON}", {"base": base}).fetchall()]
        if found:
            con.execute(f"DELETE FROM {PLAIN_TABLE} WHERE pos IN (SELECT unnest($found))", {"found": found})
        return [pos - base for pos in found]

    def _read_again(self, csv: str, params: dict[str, int], numbers: list[int]) -> None:
        """The lines `numbers` of the file `csv`, whose text the load did not keep, into PYTHON_LINES (one more scan
        of the file, only when there are some; `params`: the load's base and last)."""
        if numbers:
            self.con.execute(f"INSERT INTO {PYTHON_LINES} SELECT $base + ordinality, line, ordinality < $last "
                             f"FROM {csv} WITH ORDINALITY WHERE ordinality IN (SELECT unnest($numbers))",
                             {**params, "numbers": numbers})

    def drop(self) -> None:
        """Remove the read's tables and give DuckDB its threads back (the read is over)."""
        for table in TABLES:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"SET threads = {int(self._threads)}")

    # ---- 2. the lines Python reads --------------------------------------------------------------------------
    def python_lines(self, rejects: RejectsWriter) -> None:
        """The Python reader's steps on every line SQL did not settle, in input order (counts, rejects, records)."""
        create(self.con, PYTHON_RECORDS, _PYTHON_SCHEMA)
        rows: list[list[Any]] = [[], [], [], []]
        pos = 0

        def add(message: dict[str, Any], origin: str) -> bool:
            links = self._graph.links(message)
            if links is None:
                return False
            identify = links.kind == IDENTIFY
            body = (dump_record(origin, links, message.get("traits"), message_time(message)) if identify
                    else dump_record(origin, links))
            for column, value in zip(rows, (pos, identify, links.nodes, body), strict=True):
                column.append(value)
            return links.used

        for chunk in stream(self.con, f"SELECT pos, line, whole FROM {PYTHON_LINES} ORDER BY pos"):
            for pos, line, whole in chunk:
                name, line_no = self.names[pos >> POS_BITS], pos & LINE_MASK
                raw = line.encode()
                item = line_item(raw, might_matter, name, line_no) if whole else (
                    parse_line(raw, f"{name}:{line_no}"))
                if item is not None:
                    take_item(item, add, self.counts, rejects)
            if len(rows[0]) >= _CHUNK:
                self._flush_python(rows)
        self._flush_python(rows)
        self.con.execute(f"DROP TABLE {PYTHON_LINES}")

    def _flush_python(self, rows: list[list[Any]]) -> None:
        if rows[0]:
            insert_columns(self.con, PYTHON_RECORDS, _PYTHON_SCHEMA, rows)
            for column in rows:
                column.clear()

    # ---- 3. numbers, and who is simple ------------------------------------------------------------------------
    def number(self) -> None:
        with self._one_thread():
            self.con.execute(NUMBER)
            self.con.execute(FIND_COMPLEX)
        self.con.execute(f"CREATE OR REPLACE TABLE {EMAIL_HUBS} (hub VARCHAR, email_ts DOUBLE, email_fold BIGINT)")
        if self.nulls == "keep":
            self._latest_wins_all()

    def _latest_wins_all(self) -> None:
        """Folded hubs whose every identify's trait paths (nulls left out, as `identity.walk` lists them) begin the
        latest identify's are simple after all: the latest identify has every path, so it wins each, and the paths
        first seen come in its order. SQL then maps them by the latest identify's shape (a trait added later).
        So are those whose latest identify has no e-mail when the others' paths are the e-mail and then the
        beginning of the latest's, and the first identify (in input order) has the e-mail (later updates sent
        without it): the person is the latest identify's traits with the hub's one address put first (EMAIL_HUBS
        keeps the time and number of the e-mail's latest identify, the graph's time of that trait).
        A shape lists Python's paths only when no key is given twice in an object (json_structure merges such a
        key): told shapes are proven so, the others are tested row by row (trait_shapes.keys_once). Only the
        MAX_FOLDED_SHAPES most common shapes are compared: a hub with a row of any other stays folded."""
        con = self.con
        shapes = con.execute(f"""
            SELECT shape, json_structure(any_value(traits)) FROM {PLAIN_TABLE}
            WHERE hub IN (SELECT hub FROM {FOLDED_HUBS}) GROUP BY shape ORDER BY count(*) DESC, shape
            LIMIT {MAX_FOLDED_SHAPES}""").fetchall()
        if not shapes:
            return
        paths: dict[int, list[str]] = {}
        pointers: list[str] = []
        tests = []
        for shape, text in shapes:
            if text == _EMPTY_TRAITS:  # an identify without traits ({}): no paths, which begin any
                paths[int(shape)] = []
                continue
            gate = shape_gate(int(shape), str(text), pointers)
            if gate is None:
                continue  # (a dotted key, an escaped key: those people stay folded)
            structure, once = gate
            if once != "true":
                tests.append(f"WHEN {int(shape)}::UHUGEINT THEN {once}")
            paths[int(shape)] = [path for path, _ in leaves(structure, clear_nulls=False)]
        pairs = [f"({s}::UHUGEINT, {t}::UHUGEINT, {str(email).lower()})" for s, ps in paths.items()
                 for t, pt in paths.items() for email in (_email_first(ps, pt),) if email is not None]
        if not pairs:
            return
        extract = f"json_extract(traits, [{', '.join(sql_text(p) for p in pointers)}])" if pointers else "[]::JSON[]"
        keys_once_sql = f"CASE shape {' '.join(tests)} ELSE true END" if tests else "true"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE col_prefix (s, t, email) AS VALUES {", ".join(pairs)};
            CREATE OR REPLACE TEMP TABLE col_promoted AS
            SELECT p.hub, bool_or(x.email) AS email, max({{'ts': p.ts, 'fold': p.fold}}) FILTER (x.email) AS email_at
            FROM (SELECT hub, shape, ts, fold, {keys_once_sql} AS once
                  FROM (SELECT p.hub, p.shape, p.traits, p.ts, r.fold, {extract} AS {LEAVES}
                        FROM {PLAIN_TABLE} p JOIN {RECORDS} r USING (pos)
                        WHERE p.hub IN (SELECT hub FROM {FOLDED_HUBS}))) p
            JOIN (SELECT p.hub, arg_max(p.shape, {{'ts': p.ts, 'fold': r.fold}}) AS latest
                  FROM {PLAIN_TABLE} p JOIN {RECORDS} r USING (pos)
                  WHERE p.hub IN (SELECT hub FROM {FOLDED_HUBS}) GROUP BY p.hub) l USING (hub)
            LEFT JOIN col_prefix x ON x.s = p.shape AND x.t = l.latest
            GROUP BY p.hub
            HAVING count(*) = count(x.s) AND bool_and(p.once) AND (NOT bool_or(x.email) OR arg_min(x.email, p.fold));
            INSERT INTO {EMAIL_HUBS} SELECT hub, email_at.ts, email_at.fold FROM col_promoted WHERE email;
            DELETE FROM {FOLDED_HUBS} WHERE hub IN (SELECT hub FROM col_promoted);
            DROP TABLE col_prefix;
            DROP TABLE col_promoted""")

    def tee(self, tee: Tee) -> None:
        """Every record, in input order, to `tee` (the people store of a full run)."""
        # Each kind sorted into a table of its own first: two sorts streamed side by side need more memory than a
        # tiny limit gives, two table scans next to nothing (they keep the insertion order).
        tables = ("backfill.col_tee_plain", "backfill.col_tee_python")
        for table, sql in zip(tables, ALL_RECORDS, strict=True):
            self.con.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}")
        plain, python = (itertools.chain.from_iterable(stream(self.con, f"SELECT * FROM {table}"))
                         for table in tables)
        for row in heapq.merge(plain, python, key=operator.itemgetter(0)):
            seq, fold, nodes, body = self._record(row)
            tee(seq, fold, nodes, body)
        for table in tables:
            self.con.execute(f"DROP TABLE {table}")

    def _record(self, row: tuple[Any, ...]) -> tuple[int, int | None, list[str], bytes]:
        """seq, fold, nodes and dump_record bytes of one ALL_RECORDS row (a plain one is dumped here)."""
        pos, seq, fold, u, a, e, ts, traits, nodes, body = row
        if body is not None:
            return seq, fold, list(nodes), body
        links = _plain_links(u, a, e)
        return seq, fold, links.nodes, dump_record(self._origin(pos), links, json.loads(traits), ts)

    def _origin(self, pos: int) -> str:
        """The `file:line` of the line at `pos`."""
        return f"{self.names[pos >> POS_BITS]}:{pos & LINE_MASK}"

    # ---- 4. people ------------------------------------------------------------------------------------------
    def people(self) -> ColumnarPeople:
        """The people (ColumnarPeople): both kinds as Person objects in people order, or the simple ones SQL maps
        as plan rows and the rest as Person objects."""
        stage = MessageStage(self.engine, self._graph.links)
        for sql in COMPLEX_RECORDS:
            for chunk in stream(self.con, sql):
                for row in chunk:
                    stage.put(*self._record(row))
        stage.close()
        replayed = label_components(self.con)
        # One row per simple person, settled now: the planner then uses the engine while they stream out, and the
        # read's tables are gone before it starts.
        self.con.execute(f"CREATE OR REPLACE TABLE {SIMPLE} AS {SIMPLE_PEOPLE}")
        self.con.execute(f"CREATE OR REPLACE TABLE {FOLDED} AS {FOLDED_PEOPLE}")
        ((folded,),) = self.con.execute(f"SELECT count(*) FROM {FOLDED_HUBS}").fetchall()
        for table in (PLAIN_TABLE, PYTHON_RECORDS, RECORDS, COMPLEX, FOLDED_HUBS, EMAIL_HUBS):
            self.con.execute(f"DROP TABLE {table}")
        ((simple, email_first),) = self.con.execute(
            f"SELECT count(*), count(email_fold) FROM {SIMPLE}").fetchall()
        self._email_first = email_first > 0
        self.people_count = replayed + int(simple) + int(folded)
        return ColumnarPeople(self)

    def map_simple(self, mapper: Mapper, *, ownership: Ownership, lookup_field: str, read_all: bool) -> int:
        """The simple people SQL can map (sql_mapping.py), inserted into the plan's people (plan_table.SQL_PEOPLE:
        ordinal, the person's first fold; key, fields (JSON), ts, origin, owned_fields (JSON), owned, needs_read);
        how many. `people` then leaves them out."""
        self.con.execute(f"CREATE OR REPLACE TABLE {FILES} (file BIGINT, name VARCHAR)")
        self.con.executemany(f"INSERT INTO {FILES} VALUES (?, ?)", list(enumerate(self.names)))

        def insert(rows: str) -> str:
            return SQL_PEOPLE.format(rows=f"""
                SELECT m.first_fold AS ordinal, m.key, m.fields, m.ts,
                       f.name || ':' || (m.first_pos & {LINE_MASK}) AS origin, m.owned_fields, m.owned, m.needs_read
                FROM ({rows}) m JOIN {FILES} f ON f.file = m.first_pos >> {POS_BITS}""")

        # SQL gives every field the person's time; newer_only compares each field's own, which for an e-mail from
        # an earlier identify (EMAIL_HUBS) is that identify's: when the e-mail trait writes a newer_only field,
        # those people go to Python.
        route = mapper.route("email") if self._email_first and ownership.newer_only else None
        simple = f"(SELECT * FROM {SIMPLE} WHERE email_fold IS NULL)" if (
            route is not None and route[0] in ownership.newer_only) else SIMPLE
        mapped = map_in_sql(self.con, simple, mapper, nulls=self.nulls, ownership=ownership,
                            lookup_field=lookup_field, read_all=read_all, insert=insert)
        self._mapped = mapped > 0
        if self._mapped:  # the plan's people hold only these rows yet: the others go in as they stream out
            self.con.execute(f"CREATE OR REPLACE TABLE {MAPPED} AS SELECT ordinal AS first_fold FROM {PLAN_PEOPLE}")
        return mapped

    def merged(self) -> Iterator[Person]:
        """The people not mapped in SQL, simple, folded and replayed, in people order (first identify first)."""
        yield from heapq.merge(self._simple_people(), self._folded_people(),
                               replay_people(self.engine, nulls=self.nulls), key=lambda person: person.first_seq)
        self.drop()

    def _folded_people(self) -> Iterator[Person]:
        """Each folded hub's person: its identifies folded in input order, with their own numbers, as the graph
        folds them into the hub's root."""
        fold_into = self._graph.fold_into
        person, current = Person(), None
        # the table was written in people order, and a scan keeps it (preserve_insertion_order)
        for chunk in stream(self.con, f"SELECT * FROM {FOLDED}"):
            for first_fold, fold, pos, u, a, e, ts, traits in chunk:
                if first_fold != current:
                    if current is not None:
                        yield person
                    person, current = Person(), first_fold
                fold_into(person, Links(IDENTIFY, [], u, a, e), json.loads(traits), ts, self._origin(pos), fold)
        if current is not None:
            yield person

    def _simple_people(self) -> Iterator[Person]:
        fold_into = self._graph.fold_into
        sql = f"SELECT * EXCLUDE (shape) FROM {SIMPLE}"
        if self._mapped:
            sql += f" WHERE first_fold NOT IN (SELECT first_fold FROM {MAPPED})"
        sql += " ORDER BY first_fold"  # people order
        for chunk in stream(self.con, sql):
            for first_fold, first_pos, identifies, u, a, e, ts, seq, traits, email_ts, email_fold in chunk:
                person = Person()
                links = Links(IDENTIFY, [], u, a, e)
                fold_into(person, links, json.loads(traits), ts, self._origin(first_pos), seq)
                if email_fold is not None:  # the e-mail came from an earlier identify (EMAIL_HUBS)
                    person.traits["email"] = Trait(e, email_ts, email_fold)
                person.identifies = identifies
                person.first_seq = first_fold
                yield person


class ColumnarPeople:
    """read_columnar's people: iterated, every person in people order as Person objects; or, once `map_simple`
    has run (the engine plan does that first), the simple people SQL maps as plan rows and the rest iterated."""

    def __init__(self, reader: ColumnarRead) -> None:
        self.reader = reader
        self._people: Iterator[Person] | None = None

    def map_simple(self, mapper: Mapper, *, ownership: Ownership, lookup_field: str, read_all: bool) -> int:
        return self.reader.map_simple(mapper, ownership=ownership, lookup_field=lookup_field, read_all=read_all)

    def __iter__(self) -> Iterator[Person]:
        return self

    def __next__(self) -> Person:
        if self._people is None:
            self._people = self.reader.merged()
        return next(self._people)


def _email_first(paths: list[str], latest: list[str]) -> bool | None:
    """How an identify's trait `paths` fit its person's `latest` identify's for _latest_wins_all: False when they
    begin the latest's, True when they are the e-mail and then the beginning of the latest's (which has no
    e-mail), None when neither."""
    if latest[:len(paths)] == paths:
        return False
    if paths[:1] == ["email"] and "email" not in latest and latest[:len(paths) - 1] == paths[1:]:
        return True
    return None


def _plain_links(u: str | None, a: str | None, e: str | None) -> Links:
    """The links IdentityGraph.links gives a plain identify."""
    nodes = [f"u:{u}"] if u else []
    if a:
        nodes.append(f"a:{a}")
    if e:
        nodes.append(f"e:{e}")
    return Links(IDENTIFY, nodes, u, a, e)


def _skeletons(con: duckdb.DuckDBPyConnection, csv: str) -> list[list[str]]:
    """The most common key sequences (top level, in order) of the identifies among the first SKELETON_SAMPLE lines
    of the file `csv` (read_csv's SQL) that _skeleton_sql can use: distinct keys, each printable ASCII but '"' and
    '\\' (json.dumps writes it as the line does, and a quoted JSON path reads it), with the three every plain identify
    has."""
    rows = con.execute(f"""
        SELECT keys FROM (SELECT try(json_keys(line)) AS keys FROM (SELECT line FROM {csv} LIMIT {SKELETON_SAMPLE})
                          WHERE contains(line, '"identify"'))
        WHERE keys IS NOT NULL GROUP BY keys ORDER BY count(*) DESC, keys LIMIT {MAX_SKELETONS}""").fetchall()
    return [list(keys) for (keys,) in rows if len(set(keys)) == len(keys) and all(map(_SKELETON_KEY.fullmatch, keys))
            and {"type", "timestamp", "traits"} <= set(keys)]


@dataclass(frozen=True)
class SkeletonSql:
    """LINES' `{ident}`: SQL true when `line` is one of the file's common key sequences with its fields' text as the
    JSON writer writes it back, and no nan/inf literal is in one of those fields but the traits; `{more}`: the
    fields it reads that are not columns of the load yet (entries of its struct); `{paths}`: the JSON paths
    json_extract reads, _FIELDS', the file's other common keys' and last the traits' e-mail; `{found}`: how many of
    those keys at the top a line has (_DUPLICATE_KEYS)."""

    ident: str
    more: str
    paths: str
    found: str

    def lines(self, csv: str) -> str:
        """LINES for the file `csv` (read_csv's SQL)."""
        return (LINES.replace("{csv}", csv).replace("{ident}", self.ident).replace("{more}", self.more)
                .replace("{paths}", self.paths).replace("{found}", self.found))


def _skeleton_sql(skeletons: list[list[str]]) -> SkeletonSql:
    """SkeletonSql of the `skeletons` (_skeletons). concat leaves out a NULL (a key the line lacks): that text is
    not JSON, which no parsed line is."""
    tests = []
    extra = list(dict.fromkeys(key for keys in skeletons for key in keys if key not in _COLUMNS))  # (each once)
    columns = {**_COLUMNS, **{key: f"x{index}" for index, key in enumerate(extra, 1)}}  # (x1: not a load column)
    for keys in skeletons:
        fields = {key: columns[key] for key in keys}
        parts = [item for index, (key, field) in enumerate(fields.items())
                 for item in (sql_text(("{" if index == 0 else ",") + json.dumps(key) + ":"), field)]
        searched = [nan_in(field) for key, field in fields.items() if key not in _NO_NAN]
        nan = f"NOT coalesce({' OR '.join(searched)}, false)" if searched else "true"
        tests.append(f"WHEN line = concat({', '.join(parts)}, '}}') THEN {nan}")
    paths = [*(f"$.{key}" for key in _FIELDS), *(f'$."{key}"' for key in extra), "$.traits.email"]
    # CASE, not OR and AND, which DuckDB evaluates whole on every row of a projection; a line not parsed (most of
    # a mixed export's: skipped) builds no concat
    return SkeletonSql(f"CASE WHEN f IS NULL THEN false {' '.join(tests)} ELSE false END" if tests else "false",
                       "".join(f"'{columns[key]}': f[{len(_FIELDS) + index}], " for index, key in enumerate(extra, 1)),
                       ", ".join(map(sql_text, paths)),
                       " + ".join(f"(f[{index}] IS NOT NULL)::INT" for index in range(1, len(paths))))


def _shape_sample(plain_lines: int) -> str:
    """The plain identifies whose trait structures shape_sql counts: about trait_shapes.SAMPLE of them, every
    step-th line, spread over the whole file, so a structure only a later part of it has (a trait added on a later
    day) is among those the cheap test tells. Which rows are sampled changes the cost, never a shape."""
    step = max(1, plain_lines // SAMPLE)
    return f"SELECT traits FROM col_raw WHERE kind = {PLAIN_KIND} AND n % {step} = 0"


def _ends_with_newline(source: InputFile, lines_bytes: int) -> bool:
    """Whether the last line of `source` ends with a newline, from its size: `lines_bytes` (every line and one newline
    each) is its size then, one more otherwise. A gzip records its size modulo 4 GiB, of its last member only: a
    size that fits neither is a file of several members, read the Python way (Unreadable)."""
    if source.gzipped:
        try:
            size, wrap = gzip_isize(source.path), ISIZE_WRAP
        except OSError:
            raise Unreadable(f"{source.path}: cannot read its gzip trailer") from None
    else:
        size, wrap = source.path.stat().st_size, 1 << 64
    if size in (lines_bytes % wrap, (lines_bytes - 1) % wrap):
        return size == lines_bytes % wrap
    raise Unreadable(f"{source.path}: its size does not match its lines")
