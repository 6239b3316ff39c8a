"""sync-audience planner: audience people + current list members + resolved ids -> ListMembershipPlan, as SQL
over the planning engine's tables (docs/engine.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import ConfigError, SafetyRefusal
from segmarketo_cli.jobs.sync_audience.audience_table import iter_people
from segmarketo_cli.jobs.sync_audience.tables import scalar, stream
from segmarketo_cli.sources.audience.readers import AudiencePerson, Identity

if TYPE_CHECKING:
    import duckdb

MODES = ("mirror", "delta", "add-only")
DEFAULT_MAX_REMOVALS = "10%"
_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Member:
    """A lead to add to or remove from the list, with the person it counts for: their key (`kind`, `key`; a
    member no audience person names is keyed by its e-mail, else its lead id), why, and where the person was read."""

    lead_id: int | None
    kind: str
    key: str
    reason: str
    origin: str


class LeadIds:
    """Lead ids of one plan action, in id order, kept in a table of the planning engine (columns lead_id, key_kind,
    key_value, reason, origin): counted up front, streamed when iterated."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, table: str = "", count: int = 0) -> None:
        self.con, self.table, self.count = con, table, count

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[int]:
        if self.con is None:
            return
        for batch in stream(self.con, f"SELECT lead_id FROM {self.table} ORDER BY lead_id"):
            yield from batch.column(0).to_pylist()

    def members(self, limit: int | None = None) -> Iterator[Member]:
        """The action's leads with the people they count for, in id order (at most `limit`)."""
        if self.con is None:
            return
        cap = "" if limit is None else f" LIMIT {int(limit)}"
        query = f"SELECT lead_id, key_kind, key_value, reason, origin FROM {self.table} ORDER BY lead_id{cap}"
        for batch in stream(self.con, query):
            for lead_id, kind, key, reason, origin in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                yield Member(lead_id, kind, key, reason, origin or "")

    def __contains__(self, lead_id: object) -> bool:
        return self.con is not None and isinstance(lead_id, int) and bool(
            scalar(self.con, f"SELECT count(*) FROM {self.table} WHERE lead_id = ?", [lead_id]))

    def head(self, count: int) -> list[int]:
        """The first `count` ids."""
        if self.con is None:
            return []
        query = f"SELECT lead_id FROM {self.table} ORDER BY lead_id LIMIT {int(count)}"
        return [int(row[0]) for row in self.con.execute(query).fetchall()]

    def discard(self, lead_id: int) -> None:
        """Take `lead_id` out of the action."""
        if lead_id in self:
            assert self.con is not None
            self.con.execute(f"DELETE FROM {self.table} WHERE lead_id = ?", [lead_id])
            self.count -= 1


@dataclass
class ListMembershipPlan:
    """What to change on one static list; lead-id counts satisfy current = removes + unchanged + kept. The
    people, ids and reasons behind it stay in the planning engine's tables (see plan_membership)."""

    mode: str
    current: int = 0
    adds: LeadIds = field(default_factory=LeadIds)
    removes: LeadIds = field(default_factory=LeadIds)
    unchanged: int = 0
    kept: int = 0
    audience_leads: int = 0
    people: int = 0
    resolved: int = 0
    exited: int = 0
    duplicate_emails: int = 0
    unresolved: int = 0
    to_create: int = 0
    create_missing: bool = False
    user_field: str | None = None
    con: duckdb.DuckDBPyConnection | None = None

    @property
    def changes(self) -> bool:
        return bool(self.adds or self.removes or self.to_create)

    def summary(self, sample: int = 20) -> dict[str, Any]:
        """Counts plus the first `sample` ids of each action (for --dry-run and --json)."""
        return {
            "mode": self.mode,
            "current_members": self.current,
            "add": len(self.adds),
            "remove": len(self.removes),
            "create": self.to_create,
            "unchanged": self.unchanged,
            "kept": self.kept,
            "unresolved": self.unresolved,
            "add_sample": self.adds.head(sample),
            "remove_sample": self.removes.head(sample),
        }

    def people_to_create(self, kind: str | None = None) -> Iterator[AudiencePerson]:
        """The people --create-missing creates (all of them, or those keyed by `kind`), in audience order."""
        if self.con is None or not self.to_create:
            return iter(())
        where = "NOT has_lead AND member AND " + _creatable(self.user_field)
        return iter_people(self.con, where + (f" AND key_kind = '{kind}'" if kind else ""))

    def unresolved_people(self) -> Iterator[AudiencePerson]:
        """The people found nowhere in Marketo that are not created, in audience order."""
        if self.con is None or not self.unresolved:
            return iter(())
        return iter_people(self.con, self._unresolved())

    def unresolved_by_user_id(self) -> bool:
        """Whether some unresolved person is known only by a userId."""
        if self.con is None or not self.unresolved:
            return False
        return bool(scalar(self.con, f"SELECT count(*) FROM people WHERE {self._unresolved()} AND key_kind = 'userId'"))

    def _unresolved(self) -> str:
        """SQL over the people table: in the audience, found nowhere in Marketo, and not to be created."""
        return "NOT has_lead AND member" + (f" AND NOT {_creatable(self.user_field)}" if self.create_missing else "")

    def owner_identities(self, lead_ids: Sequence[int]) -> list[tuple[Identity, str]]:
        """The identities of the audience people a lead counts for, for the given leads, each with the origin of
        its person."""
        if self.con is None or not lead_ids:
            return []
        rows = self.con.execute("""
            SELECT DISTINCT i.kind, i.value, p.origin, i.pos, i.idx
            FROM person_leads l JOIN person_ids i USING (pos) JOIN people p USING (pos)
            WHERE l.member AND list_contains($ids, l.lead_id) ORDER BY i.pos, i.idx""",
                                {"ids": list(lead_ids)}).fetchall()
        return [(Identity(kind, value), origin) for kind, value, origin, _, _ in rows]

    def rejected(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        """The audience file's rejected rows (origin, reason, field, value), in file order."""
        if self.con is None:
            return
        for batch in stream(self.con, "SELECT origin, reason, field, value FROM audience_rejects ORDER BY rowid"):
            yield from zip(*(c.to_pylist() for c in batch.columns), strict=True)

    def is_target(self, lead_id: int) -> bool:
        """Whether `lead_id` belongs to the audience's leads."""
        return self.con is not None and bool(scalar(self.con, "SELECT count(*) FROM targets WHERE lead_id = ?",
                                                    [lead_id]))

    def add_target(self, lead_id: int) -> None:
        """Count `lead_id` among the audience's leads (found again after a cached id went stale)."""
        assert self.con is not None
        self.con.execute("INSERT INTO targets VALUES (?, NULL)", [lead_id])


def can_create(person: AudiencePerson, user_field: str | None) -> bool:
    """A lead can be created for an e-mail, or for a user id when the user id field is configured."""
    kind = person.key.kind
    return kind == "email" or (kind == "userId" and bool(user_field))


def new_lead_record(person: AudiencePerson, user_field: str | None) -> dict[str, str]:
    """The fields --create-missing writes for `person`: their key in its field, plus their user id when the
    profile has a user id field."""
    kind = person.key.kind
    record = {("email" if kind == "email" else user_field or kind): person.key.value}
    if user_field and person.user_id and user_field not in record:
        record[user_field] = person.user_id
    return record


def _creatable(user_field: str | None) -> str:
    """can_create as SQL over the people table."""
    return "(key_kind = 'email'" + (" OR key_kind = 'userId')" if user_field else ")")


# Each person's leads: the ids resolved for any of their identities, current members with that e-mail (or user
# id, when the profile has the field), and a Marketo lead id as given.
_PERSON_LEADS = """
CREATE OR REPLACE TABLE person_leads AS
SELECT DISTINCT pos, member, lead_id FROM (
    SELECT i.pos, i.member, r.lead_id FROM person_ids i JOIN resolved r ON r.kind = i.kind AND r.value = i.value
    UNION ALL
    SELECT i.pos, i.member, m.lead_id FROM person_ids i JOIN members m ON i.kind = 'email' AND m.email_key = i.value
    UNION ALL
    SELECT i.pos, i.member, m.lead_id FROM person_ids i JOIN members m
        ON $user_field AND i.kind = 'userId' AND m.user_key = i.value
    UNION ALL
    SELECT pos, member, CAST(value AS BIGINT) FROM person_ids WHERE kind = 'marketo-id')
"""
_HAS_LEAD = ("ALTER TABLE people ADD COLUMN IF NOT EXISTS has_lead BOOLEAN",
             "UPDATE people SET has_lead = pos IN (SELECT pos FROM person_leads)")
# Every lead of a person in the audience, with the first such person (the one named in --plan-out).
_TARGETS = """
CREATE OR REPLACE TABLE targets AS
SELECT lead_id, min(pos) AS first_pos FROM person_leads WHERE member GROUP BY lead_id
"""
# Both actions' tables: lead_id, key_kind, key_value, reason, origin (see Member).
_ADDS = """
CREATE OR REPLACE TABLE plan_adds AS
SELECT t.lead_id, p.key_kind, p.key_value, 'in audience' AS reason, p.origin
FROM targets t JOIN people p ON p.pos = t.first_pos
WHERE t.lead_id NOT IN (SELECT lead_id FROM members)
"""
# A member no audience person names is keyed by its e-mail, else by its lead id; an exit by the person who exited.
_MEMBER_KEY = """CASE WHEN coalesce(email_text, '') <> '' THEN 'email' ELSE 'marketo-id' END AS key_kind,
                 coalesce(nullif(email_text, ''), CAST(lead_id AS VARCHAR)) AS key_value"""
_REMOVES = {
    "mirror": f"""
        CREATE OR REPLACE TABLE plan_removes AS
        SELECT lead_id, {_MEMBER_KEY}, 'not in audience' AS reason, '' AS origin FROM members
        WHERE lead_id NOT IN (SELECT lead_id FROM targets)""",
    "delta": """
        CREATE OR REPLACE TABLE plan_removes AS
        SELECT l.lead_id, arg_min(p.key_kind, l.pos) AS key_kind, arg_min(p.key_value, l.pos) AS key_value,
               'exited' AS reason, arg_min(p.origin, l.pos) AS origin
        FROM person_leads l JOIN members m USING (lead_id) JOIN people p USING (pos)
        WHERE NOT l.member AND l.lead_id NOT IN (SELECT lead_id FROM targets)
        GROUP BY l.lead_id""",
    "add-only": f"CREATE OR REPLACE TABLE plan_removes AS SELECT lead_id, {_MEMBER_KEY}, '' AS reason, "
                "'' AS origin FROM members WHERE FALSE",
}


def plan_membership(con: duckdb.DuckDBPyConnection, *, current: int, mode: str = "mirror",
                    create_missing: bool = False, user_field: str | None = None) -> ListMembershipPlan:
    """Diff the audience against the list, over the engine's tables: `people` and `person_ids` (audience_table),
    `members` (members.py, `current` rows), `resolved` (resolve.py). Every lead matching a person's e-mail
    counts as theirs."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not '{mode}'")

    def count(query: str) -> int:
        return scalar(con, query)

    con.execute(_PERSON_LEADS, {"user_field": bool(user_field)})
    for statement in _HAS_LEAD:
        con.execute(statement)
    con.execute(_TARGETS)
    con.execute(_ADDS)
    con.execute(_REMOVES[mode])
    plan = ListMembershipPlan(mode=mode, current=current, people=count("SELECT count(*) FROM people"),
                              create_missing=create_missing, user_field=user_field, con=con)
    plan.duplicate_emails = count("""
        SELECT count(*) FROM person_ids i JOIN (SELECT value FROM resolved WHERE kind = 'email' GROUP BY value
                                               HAVING count(DISTINCT lead_id) > 1) d
        ON i.kind = 'email' AND i.value = d.value""")
    plan.exited = count("SELECT count(*) FROM people WHERE NOT member")
    plan.resolved = count("SELECT count(*) FROM people WHERE member AND has_lead")
    missing = count("SELECT count(*) FROM people WHERE member AND NOT has_lead")
    plan.to_create = count("SELECT count(*) FROM people WHERE member AND NOT has_lead AND "
                           + _creatable(user_field)) if create_missing else 0
    plan.unresolved = missing - plan.to_create
    plan.audience_leads = count("SELECT count(*) FROM targets")
    plan.adds = LeadIds(con, "plan_adds", count("SELECT count(*) FROM plan_adds"))
    plan.removes = LeadIds(con, "plan_removes", count("SELECT count(*) FROM plan_removes"))
    plan.unchanged = plan.audience_leads - len(plan.adds)
    plan.kept = current - len(plan.removes) - plan.unchanged
    return plan


def parse_max_removals(text: str | None) -> tuple[float, bool]:
    """'500' -> (500, False); '10%' -> (10.0, True). ConfigError for anything else."""
    match = _LIMIT_RE.match(text if text is not None else DEFAULT_MAX_REMOVALS)
    if not match or (match.group(2) and float(match.group(1)) > 100):
        raise ConfigError(f"--max-removals must be a count (e.g. 500) or a percentage (e.g. 10%), not '{text}'")
    if not match.group(2) and "." in match.group(1):
        raise ConfigError(f"--max-removals count must be a whole number, not '{text}'")
    return float(match.group(1)), bool(match.group(2))


def removal_limit(text: str | None, current: int) -> int:
    """The most removals allowed for a list of `current` members."""
    value, percent = parse_max_removals(text)
    return math.floor(current * value / 100) if percent else int(value)


def check_safety(plan: ListMembershipPlan, *, max_removals: str | None, force: bool, list_name: str) -> None:
    """Mirror mode only: refuse an empty audience or a mass removal unless forced. Nothing is written yet."""
    if plan.mode != "mirror" or force:
        return
    if plan.people == 0:
        raise SafetyRefusal(
            f"the audience is empty: mirroring it would empty the list '{list_name}'; nothing was written",
            hint="check the input file, or pass --force to empty the list",
        )
    limit = removal_limit(max_removals, plan.current)
    if len(plan.removes) > limit:
        share = 100.0 * len(plan.removes) / plan.current if plan.current else 100.0
        raise SafetyRefusal(
            f"the plan removes {len(plan.removes):,} of {plan.current:,} members of '{list_name}' ({share:.1f}%), "
            f"more than --max-removals {max_removals or DEFAULT_MAX_REMOVALS} ({limit:,}); nothing was written",
            hint="check the input with --dry-run --plan-out FILE, then raise --max-removals or pass --force",
        )
