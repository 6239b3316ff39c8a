"""The backfill plan on the engine: one row per person in people order, duplicate keys, stored hashes and field
ownership settled in SQL and chunk loops, the outcome read back as streams of candidates (docs/engine.md)."""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import duckdb

from segmarketo_cli.config.defaults import BEFORE_VALUES
from segmarketo_cli.engine import Columns, create, fetch_row, insert_columns, insert_rows
from segmarketo_cli.identity import Person
from segmarketo_cli.jobs.backfill_leads.lead_changes import person_changes
from segmarketo_cli.jobs.backfill_leads.lead_plan import KEY_CHUNK, KnowsLeads, PlanCounts, SqlPeople, knows_some
from segmarketo_cli.jobs.backfill_leads.plan import (
    Candidate,
    Ownership,
    ReadCurrent,
    Reject,
    StoredHashes,
    StoredLeads,
    content_hash,
    needs_read,
    no_stored_leads,
    plan_person,
    recall,
    settle_chunk,
)
from segmarketo_cli.mapping.mapper import Mapper
from segmarketo_cli.state.change_log import Change

CHUNK = 10_000  # rows per batch to or from the engine: 50,000 cost ~45 MB more peak RSS, no less CPU

# A person's fields and marketo_owned fields are JSON text (the mapper's values are JSON's: text, whole and other
# numbers, booleans, null), so the people sql_mapping.py maps are rows like the others; `field_ts` (newer_only) is
# NULL for those, every field then having the time `ts`; `needs_read`: plan.needs_read.
PEOPLE = Columns(
    ("ordinal", "int64"), ("key", "string"), ("fields", "string"), ("field_ts", "binary"),
    ("ts", "double"), ("origin", "string"), ("cookies", "list<string>"), ("owned_fields", "string"),
    ("owned", "int32"), ("needs_read", "bool"), ("reason", "string"), ("reject_fields", "binary"),
)
PLAN_PEOPLE = "backfill.plan_people"
# The people mapped in SQL (lead_plan.SqlPeople), from a query of ordinal, key, fields, ts, origin, owned_fields, owned,
# needs_read.
SQL_PEOPLE = f"""INSERT INTO {PLAN_PEOPLE}
    SELECT ordinal, key, fields, NULL, ts, origin, NULL, owned_fields, owned, needs_read, NULL, NULL FROM ({{rows}})"""
STORED = Columns(("key", "string"), ("hash", "string"))
HASHES = Columns(("ordinal", "int64"), ("hash", "string"), ("unchanged", "bool"))
# A changed candidate once settled (read from Marketo or recalled from the state store): fields left to write,
# whether the lead exists (`found`, NULL: nobody knows), its id, the before-values and what field ownership skipped.
LOOKED = Columns(("ordinal", "int64"), ("fields", "string"), ("hash", "string"), ("unchanged", "bool"),
                 ("found", "bool"), ("lead_id", "int64"), ("before", "binary"), ("skipped", "binary"))
MARKS = Columns(("kind", "string"), ("key", "string"))
WORK_TABLES = ("backfill.plan_people", "backfill.plan_stored", "backfill.plan_hashes", "backfill.plan_looked")

# The first person of a key (people order) keeps it; a later one is rejected naming the first one's origin.
DUPLICATES = """UPDATE backfill.plan_people AS p SET reason = $prefix || f.origin || ')'
    FROM (SELECT key, min(ordinal) AS first, arg_min(origin, ordinal) AS origin
          FROM backfill.plan_people WHERE reason IS NULL GROUP BY key HAVING count(*) > 1) AS f
    WHERE p.reason IS NULL AND p.key = f.key AND p.ordinal > f.first"""
# One row per person with its action; `stage` orders the unchanged leads as the writes expect them: first those whose
# stored hash matched, then those ownership left nothing to write (each in people order). A person with no
# `plan_looked` row was neither read from Marketo nor known to the state store (plan.recall of nothing): found,
# lead id and before-values NULL, its marketo_owned fields skipped with unknown before-values.
FINAL = """CREATE OR REPLACE TABLE backfill.plan AS
    SELECT p.ordinal, p.key, coalesce(o.fields, p.fields) AS fields, coalesce(o.hash, h.hash) AS hash,
           p.origin, p.cookies, p.reason, p.reject_fields, o.found, o.lead_id, o.before, o.skipped,
           o.ordinal IS NULL AND NOT coalesce(h.unchanged, false) AS unsettled, p.owned_fields,
           CASE WHEN p.reason IS NOT NULL THEN 'reject'
                WHEN h.unchanged OR o.unchanged THEN 'unchanged' ELSE 'upsert' END AS action,
           CASE WHEN h.unchanged THEN 0 ELSE 1 END AS stage
    FROM backfill.plan_people p
    LEFT JOIN backfill.plan_hashes h USING (ordinal) LEFT JOIN backfill.plan_looked o USING (ordinal)"""
CANDIDATE_COLUMNS = "key, fields, hash, origin, cookies, found, lead_id, before, skipped, unsettled, owned_fields"
# The plan's tables live in an in-memory database attached to the engine: past memory_limit its blocks spill to the
# engine's temp_directory like any other (https://duckdb.org/docs/stable/sql/statements/attach), every cursor of the
# engine sees it (temporary tables are per connection), and appends skip the file database's write-ahead log and
# checkpoints, which cost several times the CPU of the in-memory append.
ATTACH = "ATTACH IF NOT EXISTS ':memory:' AS backfill"


def dump(value: Any) -> bytes:
    """A Python value as a BLOB: pickle keeps every type the mapper produces exactly as it was, so the fields read
    back hash and serialise as they would have without the round trip (the database is private to the run)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def load(blob: bytes) -> Any:
    """The value `dump` stored."""
    return pickle.loads(blob)  # noqa: S301 - written by this run into its own private database


def stream(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None,
           size: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a query in lists of exactly `size` (the last one shorter), streamed on a cursor of its own, so
    the caller may write to the database between two lists. Arrow batches cost about 30 % less per row than
    DuckDB's Python rows, but importing pyarrow costs about 0.2 CPU-s: they are used once something else loaded it
    (a real run's people store), Python rows before (a dry run on a first run streams nothing)."""
    cursor = con.cursor()
    try:
        if not _arrow_loaded():
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(size):
                yield rows
            return
        pending: list[tuple[Any, ...]] = []
        for batch in cursor.sql(sql, params=params).to_arrow_reader(size):
            pending.extend(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending
    finally:
        cursor.close()


def _arrow_loaded() -> bool:
    return "pyarrow" in sys.modules


def _candidate(row: tuple[Any, ...]) -> Candidate:
    key, fields, hash_, origin, cookies, found, lead_id, before, skipped, unsettled, owned = row
    candidate = Candidate(key, json.loads(fields), {}, hash_, origin, list(cookies or ()), exists=found,
                          lead_id=lead_id, before=None if before is None else load(before),
                          skipped=[] if skipped is None else load(skipped))
    if unsettled:  # changed, yet neither read nor recalled: plan.recall of a key the state store does not know
        candidate.owned = None if owned is None else json.loads(owned)
        recall(candidate, None)
    return candidate


@dataclass(kw_only=True)
class BackfillPlan(PlanCounts):
    """What a backfill run will do, held in the engine's `backfill.plan` table: counters, samples, and streams of the
    upserts, unchanged leads and rejects in people order. Also records which upserts need a second look
    (`mark`) while the writes run."""

    con: duckdb.DuckDBPyConnection

    def iter_upserts(self) -> Iterator[Candidate]:
        """The leads to write, in people order."""
        return self._candidates("upsert")

    def iter_unchanged(self, *, with_cookies: bool = False) -> Iterator[Candidate]:
        """The leads left as they are (those with Munchkin cookies only, when `with_cookies`)."""
        return self._candidates("unchanged", "AND len(cookies) > 0" if with_cookies else "")

    def iter_rejects(self) -> Iterator[Reject]:
        """The people not written, and why, in people order."""
        sql = "SELECT reason, key, origin, reject_fields FROM backfill.plan WHERE action = 'reject' ORDER BY ordinal"
        for rows in stream(self.con, sql):
            for reason, key, origin, fields in rows:
                yield Reject(reason, key, origin, None if fields is None else load(fields))

    def sample_upserts(self, n: int) -> list[Candidate]:
        return list(islice(self._candidates("upsert", limit=n), n))

    def sample_rejects(self, n: int) -> list[Reject]:
        return list(islice(self.iter_rejects(), n))

    def mark(self, kind: str, keys: Iterable[str]) -> None:
        """Remember upserts (by key) that need `kind` of follow-up once the writes are done."""
        insert_rows(self.con, "backfill.plan_marks", MARKS, [(kind, key) for key in keys])

    def iter_marked(self, kind: str) -> Iterator[Candidate]:
        """The upserts marked `kind`, in people order."""
        sql = (f"SELECT {CANDIDATE_COLUMNS} FROM backfill.plan WHERE action = 'upsert' AND key IN "
               "(SELECT key FROM backfill.plan_marks WHERE kind = $kind) ORDER BY ordinal")
        for rows in stream(self.con, sql, {"kind": kind}):
            yield from map(_candidate, rows)

    def iter_changes(self) -> Iterator[Change]:
        """Every person's plan changes in people order, streamed."""
        sql = f"SELECT action, reason, {CANDIDATE_COLUMNS} FROM backfill.plan ORDER BY ordinal"
        for rows in stream(self.con, sql):
            for action, reason, *candidate in rows:
                if action == "reject":
                    key, origin = candidate[0], candidate[3]
                    yield from person_changes(action, Reject(reason, key, origin))
                else:
                    yield from person_changes(action, _candidate(tuple(candidate)))
    def iter_keys(self) -> Iterator[str | None]:
        """Each person's lead key (None for a reject without one), in people order."""
        for rows in stream(self.con, "SELECT key FROM backfill.plan ORDER BY ordinal"):
            for (key,) in rows:
                yield key

    def _candidates(self, action: str, where: str = "", limit: int | None = None) -> Iterator[Candidate]:
        sql = f"SELECT {CANDIDATE_COLUMNS} FROM backfill.plan WHERE action = $action {where} ORDER BY stage, ordinal"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for rows in stream(self.con, sql, {"action": action}):
            yield from map(_candidate, rows)


def build_plan(people: Iterable[Person], mapper: Mapper, *, con: duckdb.DuckDBPyConnection, lookup_field: str,
               ownership: Ownership, stored_hashes: StoredHashes, read_current: ReadCurrent,
               stored_leads: StoredLeads = no_stored_leads, before_values: str = BEFORE_VALUES[0],
               full: bool = False, knows_leads: KnowsLeads = knows_some) -> BackfillPlan:
    """The whole plan in the engine `con`. `stored_hashes(keys) -> {key: hash}`,
    `read_current(keys, fields) -> {key: [rows]}` (the leads plan.needs_read picks: all of them when
    `before_values` is "marketo", else those with fill_only / newer_only fields) and, for the others,
    `stored_leads(keys, fields) -> {key: Known}` are the only lookups (state store and Marketo reads), called with
    at most KEY_CHUNK keys at a time, the state store's only when `knows_leads()`; all are injected so this stays
    testable. People read by columnar.py (SqlPeople) are mapped in SQL where sql_mapping.py can."""
    con.execute(ATTACH)
    plan = BackfillPlan(con=con)
    read_all = before_values == "marketo"
    create(con, PLAN_PEOPLE, PEOPLE)
    if isinstance(people, SqlPeople):
        people.map_simple(mapper, ownership=ownership, lookup_field=lookup_field, read_all=read_all)
    _load_people(plan, people, mapper, lookup_field=lookup_field, ownership=ownership, read_all=read_all,
                 first_seq=isinstance(people, SqlPeople))
    con.execute(DUPLICATES, {"prefix": f"duplicate {lookup_field} in input (also at "})
    owned = fetch_row(con, "SELECT coalesce(sum(owned), 0) FROM backfill.plan_people WHERE reason IS NULL")
    plan.fields_skipped["marketo_owned"] = int(owned[0]) if owned else 0
    create(con, "backfill.plan_stored", STORED)
    create(con, "backfill.plan_hashes", HASHES)
    create(con, "backfill.plan_looked", LOOKED)
    known = knows_leads()
    if known and not full:
        _compare_hashes(con, stored_hashes)
    _look_up_leads(plan, read_current, stored_leads, ownership, lookup_field=lookup_field, recall_known=known)
    con.execute(FINAL)
    create(con, "backfill.plan_marks", MARKS)
    for table in WORK_TABLES:
        con.execute(f"DROP TABLE {table}")
    for action, n in con.execute("SELECT action, count(*) FROM backfill.plan GROUP BY action").fetchall():
        setattr(plan, f"{action}_count", int(n))
    ((created, new),) = con.execute("SELECT count(*) FILTER (NOT found), count(*) FILTER (found IS NULL) "
                                    "FROM backfill.plan WHERE action = 'upsert'").fetchall()
    plan.create_count, plan.new_count = int(created), int(new)
    plan.update_count = plan.upsert_count - plan.create_count - plan.new_count
    plan.unmapped = dict(sorted(mapper.unmapped.items()))
    return plan


def _load_people(plan: BackfillPlan, people: Iterable[Person], mapper: Mapper, *, lookup_field: str,
                 ownership: Ownership, read_all: bool, first_seq: bool) -> None:
    """Every person mapped in Python into `backfill.plan_people`, one row each: a candidate or a reject. The
    ordinal is the person's place in people order, or its `first_seq` (`first_seq`: when people mapped in SQL,
    numbered so, are in the table too)."""
    con = plan.con
    columns: list[list[Any]] = [[] for _ in PEOPLE]
    (ordinals, keys, fields, field_ts, ts, origins, cookies, owned_fields, owned, reads, reasons,
     reject_fields) = columns
    for ordinal, person in enumerate(people):
        mapped = mapper.map_person(person)
        plan.fields_dropped += len(mapped.dropped)
        plan.compliance_skipped += mapped.compliance_skipped
        planned, skipped = plan_person(person, mapped, lookup_field=lookup_field, ownership=ownership)
        ordinals.append(person.first_seq if first_seq else ordinal)
        keys.append(planned.key)
        origins.append(planned.origin)
        owned.append(skipped)
        ts.append(None)
        if isinstance(planned, Reject):
            fields.append(None)
            field_ts.append(None)
            cookies.append(None)
            owned_fields.append(None)
            reads.append(False)
            reasons.append(planned.reason)
            reject_fields.append(None if planned.fields is None else dump(planned.fields))
        else:
            fields.append(json.dumps(planned.fields))
            field_ts.append(dump(planned.field_ts) if planned.field_ts else None)
            cookies.append(planned.cookies)
            owned_fields.append(None if planned.owned is None else json.dumps(planned.owned))
            reads.append(needs_read(planned, ownership, read_all=read_all))
            reasons.append(None)
            reject_fields.append(None)
        if len(ordinals) >= CHUNK:
            insert_columns(con, "backfill.plan_people", PEOPLE, columns)
            for column in columns:
                column.clear()
    if ordinals:
        insert_columns(con, "backfill.plan_people", PEOPLE, columns)


def _compare_hashes(con: duckdb.DuckDBPyConnection, stored_hashes: StoredHashes) -> None:
    """The hashes earlier runs stored for the candidates' keys, then the candidates whose fields still hash the
    same (content_hash is computed only for those with a stored hash)."""
    keys = "SELECT key FROM backfill.plan_people WHERE reason IS NULL ORDER BY ordinal"
    for rows in stream(con, keys, size=KEY_CHUNK):
        found = stored_hashes([key for (key,) in rows])
        insert_rows(con, "backfill.plan_stored", STORED, list(found.items()))
    sql = """SELECT p.ordinal, p.fields, s.hash FROM backfill.plan_people p JOIN backfill.plan_stored s ON p.key = s.key
             WHERE p.reason IS NULL ORDER BY p.ordinal"""
    for rows in stream(con, sql):
        compared = []
        for ordinal, fields, stored in rows:
            digest = content_hash(json.loads(fields))
            compared.append((ordinal, digest, digest == stored))
        insert_rows(con, "backfill.plan_hashes", HASHES, compared)


def _look_up_leads(plan: BackfillPlan, read_current: ReadCurrent, stored_leads: StoredLeads,
                   ownership: Ownership, *, lookup_field: str, recall_known: bool) -> None:
    """Every changed candidate plan.needs_read picks read from Marketo, then (`recall_known`: the state store knows
    some leads) every other one recalled from the state store, KEY_CHUNK at a time (plan.settle_chunk), one
    `backfill.plan_looked` row each. A candidate neither read nor recalled gets no row (FINAL settles it)."""
    changed = """SELECT p.ordinal, p.key, p.fields, p.field_ts, p.ts, p.owned_fields, h.hash
                 FROM backfill.plan_people p LEFT JOIN backfill.plan_hashes h USING (ordinal)
                 WHERE p.reason IS NULL AND NOT coalesce(h.unchanged, false) AND p.needs_read = $read
                 ORDER BY p.ordinal"""
    for read in (True, False) if recall_known else (True,):
        for rows in stream(plan.con, changed, {"read": read}, size=KEY_CHUNK):
            chunk = [Candidate(key, json.loads(fields), _field_ts(fields, field_ts, ts), hash_, "",
                               owned=None if owned is None else json.loads(owned))
                     for _, key, fields, field_ts, ts, owned, hash_ in rows]
            outcomes = settle_chunk(chunk, read=read, read_current=read_current, stored_leads=stored_leads,
                                    ownership=ownership, lookup_field=lookup_field)
            looked = []
            for (ordinal, *_), candidate, outcome in zip(rows, chunk, outcomes, strict=True):
                plan.fields_skipped["fill_only"] += outcome.fill_only
                plan.fields_skipped["newer_only"] += outcome.newer_only
                looked.append((ordinal, json.dumps(candidate.fields), candidate._hash, outcome.unchanged,
                               candidate.exists, candidate.lead_id, dump(candidate.before),
                               dump(candidate.skipped) if candidate.skipped else None))
            insert_rows(plan.con, "backfill.plan_looked", LOOKED, looked)


def _field_ts(fields: str, field_ts: bytes | None, ts: float | None) -> dict[str, float]:
    """A candidate's trait time per field: as the mapper gave them (pickled), or, for a person mapped in SQL, the
    time of its one identify for every field."""
    if field_ts is not None:
        return load(field_ts)  # type: ignore[no-any-return]
    return dict.fromkeys(json.loads(fields), ts) if ts is not None else {}
