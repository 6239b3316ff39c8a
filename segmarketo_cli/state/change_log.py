"""The change log: every write a real run made, one row per record (lead, list membership, program status, score,
campaign request, Segment event), with the before and after value of each field it changed. `runs show --changes`
lists it, `runs undo` reverses it, and plans read the newest value a run wrote as the state store's "before"
(docs/state.md "Change log")."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.state.sqlite import StoreFile


class _Unknown:
    """A before-value neither Marketo nor the state store knows."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __str__(self) -> str:
        return "unknown"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

# The actions a change records. Lead writes: create, update, delete (undo --delete-created), upsert (created or
# updated, the writer could not tell which: backfill-leads' Bulk Import of a lead no earlier run wrote; its
# before-values unknown, undo never deletes it); list membership: add, remove (target: the list id); program: status
# (target: the program id, field "status"); score (field: the score field, before and after the numbers); campaign
# (target: the campaign id; cannot be reversed); unsubscribe (field "unsubscribed"); event (a Segment track sent:
# key the messageId, target the event name).
ACTIONS = ("create", "update", "upsert", "delete", "add", "remove", "status", "score", "campaign", "unsubscribe",
           "event")
_LEAD_WRITE = "action IN ('create', 'update', 'upsert')"  # a change that wrote a lead's fields

UNDO_COMMAND = "runs undo"  # the command name `runs undo` runs are recorded under

FieldChanges = Mapping[str, tuple[Any, Any]]  # field -> (before or UNKNOWN, after)


@dataclass(frozen=True)
class Change:
    """One record a run wrote: what (action), to whom (key: the lookup value or messageId; lead_id), where
    (target: list, program, campaign id or event name), each field's (before, after), and why (reason, origin)."""

    action: str
    key: str = ""
    lead_id: int | None = None
    target: str = ""
    fields: FieldChanges = field(default_factory=dict)
    reason: str = ""
    origin: str = ""


@dataclass(frozen=True)
class LoggedChange:
    """A change as the log holds it: its run, its place in that run (seq), the Marketo instance, the time."""

    run_id: str
    seq: int
    instance: str
    recorded_at: float
    change: Change


def _encode_fields(fields: FieldChanges) -> str | None:
    if not fields:
        return None
    # [before, after] when the before-value is known, [after] when it is not.
    return json.dumps({name: ([after] if before is UNKNOWN else [before, after])
                       for name, (before, after) in fields.items()}, default=str, ensure_ascii=False)


def _decode_fields(text: str | None) -> dict[str, tuple[Any, Any]]:
    if not text:
        return {}
    return {name: ((UNKNOWN, pair[0]) if len(pair) == 1 else (pair[0], pair[1]))
            for name, pair in json.loads(text).items()}


# The runs (with changes in the log) started before a moment; a run no longer in `runs` by its first change.
_STARTED_BEFORE = ("SELECT DISTINCT c.run_id FROM changes c LEFT JOIN runs r ON r.run_id = c.run_id "
                   "WHERE COALESCE(r.started_at, c.recorded_at) < ?")
_COLUMNS = "run_id, seq, instance, recorded_at, action, key, lead_id, target, fields, reason, origin"
PAGE = 5_000
_CHUNK = 500  # SQLite parameters per IN (...) list


def _logged(row: tuple[Any, ...]) -> LoggedChange:
    run_id, seq, instance, recorded_at, action, key, lead_id, target, fields, reason, origin = row
    return LoggedChange(run_id, seq, instance, recorded_at,
                        Change(action, key or "", lead_id, target or "", _decode_fields(fields), reason or "",
                               origin or ""))


class ChangeLog:
    """Per profile (the profile store's `changes` table): the changes of every run, until pruned."""

    def __init__(self, file: StoreFile) -> None:
        self._file = file

    def writer(self, run_id: str, instance: str) -> ChangeWriter:
        return ChangeWriter(self._file, run_id, instance)

    def changes(self, run_id: str, *, actions: Sequence[str] | None = None) -> Iterator[LoggedChange]:
        """The run's changes in the order they were recorded, read a page at a time."""
        only = f" AND action IN ({','.join('?' * len(actions))})" if actions else ""
        for page in self._pages(run_id, only, tuple(actions or ())):
            yield from page

    def _pages(self, run_id: str, condition: str = "", params: tuple[Any, ...] = ()) -> Iterator[list[LoggedChange]]:
        """The run's changes that meet `condition` (SQL after "AND", with `params`), in recorded order, PAGE at a
        time (keyset paging on seq)."""
        after = -1
        while True:
            rows = self._file.query(f"SELECT {_COLUMNS} FROM changes WHERE run_id = ? AND seq > ?{condition} "
                                    "ORDER BY seq LIMIT ?", (run_id, after, *params, PAGE))
            if rows:
                yield [_logged(row) for row in rows]
            if len(rows) < PAGE:
                return
            after = rows[-1][1]

    def lead_groups(self, run_id: str, *, leads: int = 300) -> Iterator[list[LoggedChange]]:
        """The run's changes a group at a time, never the whole log: every change of up to `leads` leads (by lead
        id; each lead's changes all in one group) in recorded order, then the changes that name no lead, PAGE at a
        time. Read through the `changes_lead` index (run, lead, seq): each group costs its own rows, not the run's."""
        after: tuple[int, ...] = ()
        while True:
            ids = [int(row[0]) for row in self._file.query(
                "SELECT DISTINCT lead_id FROM changes WHERE run_id = ? AND lead_id IS NOT NULL"
                f"{' AND lead_id > ?' if after else ''} ORDER BY lead_id LIMIT ?", (run_id, *after, leads))]
            if ids:
                yield [_logged(row) for row in self._file.query(
                    f"SELECT {_COLUMNS} FROM changes INDEXED BY changes_lead WHERE run_id = ? "
                    f"AND lead_id IN ({','.join('?' * len(ids))}) ORDER BY seq", (run_id, *ids))]
            if len(ids) < leads:
                break
            after = (ids[-1],)
        yield from self._pages(run_id, " AND lead_id IS NULL")

    def counts(self, run_id: str) -> dict[str, int]:
        """How many changes of each action the run recorded."""
        return {str(action): int(n) for action, n in self._file.query(
            "SELECT action, COUNT(*) FROM changes WHERE run_id = ? GROUP BY action ORDER BY action", (run_id,))}

    def runs_with_changes(self, run_ids: Sequence[str]) -> set[str]:
        """Those of `run_ids` whose changes are still in the log (not pruned)."""
        found: set[str] = set()
        for start in range(0, len(run_ids), _CHUNK):
            part = run_ids[start:start + _CHUNK]
            found.update(str(row[0]) for row in self._file.query(
                f"SELECT DISTINCT run_id FROM changes WHERE run_id IN ({','.join('?' * len(part))})", part))
        return found

    def has_lead_writes(self, instance: str) -> bool:
        """Whether any logged run created, updated or upserted a lead of `instance`."""
        return bool(self._file.query(f"SELECT 1 FROM changes WHERE instance = ? AND {_LEAD_WRITE} LIMIT 1",
                                     (instance,)))

    def last_values(self, instance: str, keys: Sequence[str], fields: Iterable[str]) -> dict[str, dict[str, Any]]:
        """For each key, the newest value any logged run wrote to each of `fields` (lead creates, updates, upserts):
        the state store's answer for a before-value Marketo was not asked for. A key or field no run wrote is
        absent (the caller says UNKNOWN)."""
        wanted = set(fields)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _CHUNK):
            part = list(keys[start:start + _CHUNK])
            rows = self._file.query(
                f"SELECT key, fields FROM changes WHERE instance = ? AND {_LEAD_WRITE} "
                f"AND key IN ({','.join('?' * len(part))}) ORDER BY recorded_at, seq", (instance, *part))
            for key, text in rows:
                values = found.setdefault(str(key), {})
                for name, (_before, after) in _decode_fields(text).items():
                    if name in wanted:
                        values[name] = after
        return {key: values for key, values in found.items() if values}

    def reversed_by_undo(self, instance: str, run_id: str, lead_ids: Sequence[int]) -> dict[int, set[str]]:
        """What earlier `runs undo` runs already reversed of `run_id`'s changes to `lead_ids`: seq -> the fields
        reversed ("" for a change without fields). An undo records the change it reverses as origin "RUN#seq",
        with the lead of that change (it reverses nothing that names no lead)."""
        done: dict[int, set[str]] = {}
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "#%"
        for start in range(0, len(lead_ids), _CHUNK):
            part = list(lead_ids[start:start + _CHUNK])
            rows = self._file.query(
                # runs first (CROSS JOIN keeps that order), then each undo run's changes of these leads
                "SELECT c.origin, c.fields FROM runs r CROSS JOIN changes c INDEXED BY changes_lead "
                f"WHERE c.run_id = r.run_id AND r.command = ? AND c.lead_id IN ({','.join('?' * len(part))}) "
                "AND c.instance = ? "
                "AND c.origin LIKE ? ESCAPE '\\'", (UNDO_COMMAND, *part, instance, pattern))
            for origin, text in rows:
                seq = str(origin).rsplit("#", 1)[-1]
                if seq.isdigit():
                    done.setdefault(int(seq), set()).update(_decode_fields(text) or {""})
        return done

    def expire(self, first_kept_run_id: str) -> int:
        """The automatic retention: one DELETE of the changes of runs whose id sorts before `first_kept_run_id`
        (run ids begin with their UTC start time, so this is a range of the primary key, not a scan); how many
        rows were dropped."""
        with self._file.transaction() as db:
            return int(db.execute("DELETE FROM changes WHERE run_id < ?", (first_kept_run_id,)).rowcount)

    def prunable(self, older_than: float) -> tuple[int, int]:
        """What `prune(older_than)` would drop: (runs, rows)."""
        runs, rows = self._file.query(f"SELECT COUNT(DISTINCT run_id), COUNT(*) FROM changes WHERE run_id IN "
                                      f"({_STARTED_BEFORE})", (older_than,))[0]
        return int(runs), int(rows)

    def prune(self, older_than: float) -> tuple[int, int]:
        """Drop the changes of runs started before `older_than` (epoch seconds): (runs, rows) dropped."""
        with self._file.transaction() as db:
            runs = [row[0] for row in db.execute(_STARTED_BEFORE, (older_than,))]
            dropped = 0
            for run_id in runs:
                dropped += db.execute("DELETE FROM changes WHERE run_id = ?", (run_id,)).rowcount
        return len(runs), dropped


class ChangeWriter:
    """Records one run's changes; each `record` call is one transaction, so what Marketo confirmed is logged
    before the next batch is sent. Safe to call from the threads of one run."""

    def __init__(self, file: StoreFile | None, run_id: str, instance: str) -> None:
        self._file = file
        self.run_id = run_id
        self.instance = instance
        self._seq = 0
        self._lock = threading.Lock()
        self.count = 0

    def record(self, changes: Iterable[Change]) -> int:
        """Log `changes` (in order); how many."""
        with self._lock:
            now = time.time()
            rows = []
            for change in changes:
                self._seq += 1
                rows.append((self.run_id, self._seq, self.instance, now, change.action, change.key or None,
                             change.lead_id, change.target or None, _encode_fields(change.fields),
                             change.reason or None, change.origin or None))
            if rows and self._file is not None:
                with self._file.transaction() as db:
                    db.executemany(f"INSERT INTO changes ({_COLUMNS}) VALUES ({','.join('?' * 11)})", rows)
            self.count += len(rows)
            return len(rows)


def discard_writer(run_id: str = "") -> ChangeWriter:
    """A writer that records nothing: dry runs write nothing to Marketo or Segment."""
    return ChangeWriter(None, run_id, "")
