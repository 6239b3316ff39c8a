"""Read an export for apply-events: feed the identity graph, match track events to rules, evaluate them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.identity import IdentityGraph, Person, find_email
from segmarketo_cli.jobs.apply_events.plan import Coercer, EventRejected, evaluate
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.apply_events.staging import CHUNK, StagedEvents
from segmarketo_cli.sources import SourceItem
from segmarketo_cli.sources.shape import shape_problem
from segmarketo_cli.timeparse import message_time

TOP_BUCKETS = ("messages", "events_matched", "events_unmatched", "other_messages", "duplicates", "malformed")


@dataclass
class CollectedEvents:
    """What reading the input leaves in Python: the top-level counts and the identity graph (one entry per person).
    Matches and rejections are in the run's StagedEvents tables."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOP_BUCKETS, 0))
    graph: IdentityGraph = field(default_factory=IdentityGraph)


Row = tuple[Any, ...]  # ("match", rule index, messageId, ts, origin, who, payload) or ("reject", rule index, ...)
Ids = tuple[str | None, str | None, str | None]  # userId, anonymousId, e-mail


# What one message does once it is known not to repeat an earlier one: (messageId, bucket, origin, the non-track
# message for the graph, a track's timestamp and identifiers for the link they make, its staged rows). A tuple of
# plain values, which Python's cycle collector stops tracking, so a chunk of them waiting for the duplicate check
# costs the collector nothing (https://docs.python.org/3/library/gc.html#gc.is_tracked).
_Read = tuple[str | None, str, str, dict[str, Any] | None, Any, Ids, tuple[Row, ...]]
_NO_IDS: Ids = (None, None, None)


class EventCollector:
    """Streams SourceItems once, a chunk at a time; per-event state (messageIds, matches, rejections) goes to
    `staged`, so memory grows with distinct people, not with events.

    Each message is matched and evaluated as it arrives, but what it does waits until its chunk's messageIds have
    been checked against the earlier chunks: a repeat counts in `duplicates` and does nothing. Only the small
    results wait, not the parsed messages (except non-track ones, which the graph needs)."""

    def __init__(self, rules: list[Rule], coerce: Coercer, staged: StagedEvents) -> None:
        self.rules = rules
        self.coerce = coerce
        self.staged = staged
        self.index = {id(rule): n for n, rule in enumerate(rules)}
        self.by_event: dict[str, list[Rule]] = {}
        for rule in rules:
            for name in rule.events:
                self.by_event.setdefault(name, []).append(rule)
        self.out = CollectedEvents()
        self._links: set[Ids] = set()

    def feed(self, items: Iterable[SourceItem]) -> CollectedEvents:
        counts = self.out.counts
        chunk: list[_Read] = []
        chunk_ids: set[str] = set()
        for item in items:
            counts["messages"] += 1
            message = item.message
            problem = (item.error or "malformed") if not item.ok or message is None else shape_problem(message)
            if problem or message is None:
                counts["malformed"] += 1
                self.staged.add_reject(None, None, item.origin, problem or "malformed")
                continue
            message_id = message.get("messageId")
            message_id = str(message_id).strip() if message_id not in (None, "") else None
            if message_id is not None:
                if message_id in chunk_ids:
                    counts["duplicates"] += 1  # the same event in overlapping files: one outcome only
                    continue
                chunk_ids.add(message_id)
            chunk.append(self._read(item.origin, message, message_id))
            if len(chunk) >= CHUNK:
                self._settle(chunk, chunk_ids)
                chunk, chunk_ids = [], set()
        self._settle(chunk, chunk_ids)
        self.staged.flush()
        self.staged.drop("ae_seen")
        return self.out

    def _settle(self, chunk: list[_Read], chunk_ids: set[str]) -> None:
        """Apply the chunk's messages in read order, leaving out those an earlier chunk already had."""
        seen = self.staged.seen_before(list(chunk_ids))
        counts, graph, staged = self.out.counts, self.out.graph, self.staged
        for message_id, bucket, origin, message, timestamp, ids, rows in chunk:
            if message_id in seen:
                counts["duplicates"] += 1
                continue
            counts[bucket] += 1
            if message is not None:
                graph.add(message, origin)
            else:
                self._link(timestamp, ids)
            for row in rows:
                if row[0] == "match":
                    staged.add_match(*row[1:])
                else:
                    staged.add_reject(*row[1:])

    def _read(self, origin: str, message: dict[str, Any], message_id: str | None) -> _Read:
        if message.get("type", "track") != "track":
            return message_id, "other_messages", origin, message, None, _NO_IDS, ()
        if "properties" not in message and isinstance(message.get("traits"), dict):
            # A warehouse `tracks` row: the reader puts its extra columns in traits; for a track they are
            # the event's properties (Spec tracks carry no top-level traits).
            message["properties"] = message.pop("traits")
        ids = (_text(message.get("userId")), _text(message.get("anonymousId")), find_email(message))
        event = message.get("event")
        candidates = self.by_event.get(event, []) if isinstance(event, str) else []
        rules = [r for r in candidates if r.matches(message)]
        if not rules:
            return message_id, "events_unmatched", origin, None, message.get("timestamp"), ids, ()
        return (message_id, "events_matched", origin, None, message.get("timestamp"), ids,
                tuple(self._match(message, message_id, origin, rules, ids)))

    def _match(self, message: Mapping[str, Any], message_id: str | None, origin: str, rules: list[Rule],
               ids: Ids) -> list[Row]:
        ts = message_time(message)
        user_id, anon_id, email = ids
        who = f"u:{user_id}" if user_id else f"a:{anon_id}" if anon_id else f"e:{email}" if email else None
        rows: list[Row] = []
        for rule in rules:
            index = self.index[id(rule)]
            if message_id is None:
                rows.append(("reject", index, None, origin, "missing messageId (needed to apply it once)"))
            elif ts is None:
                rows.append(("reject", index, message_id, origin, "missing or unreadable timestamp"))
            elif who is None:
                rows.append(("reject", index, message_id, origin, "no userId, anonymousId or e-mail"))
            else:
                try:
                    payload = evaluate(rule, message, self.coerce)
                except EventRejected as exc:
                    rows.append(("reject", index, message_id, origin, exc.reason, exc.field, exc.value))
                    continue
                rows.append(("match", index, message_id, ts, origin, who, payload))
        return rows

    def _link(self, timestamp: Any, ids: Ids) -> None:
        """A track carrying several identifiers (userId, anonymousId, e-mail) ties them to one person."""
        if sum(1 for v in ids if v) < 2 or ids in self._links:
            return
        self._links.add(ids)
        user_id, anon_id, email = ids
        link: dict[str, Any] = {"type": "identify", "timestamp": timestamp}
        if user_id:
            link["userId"] = user_id
        if anon_id:
            link["anonymousId"] = anon_id
        if email:
            link["traits"] = {"email": email}
        self.out.graph.add(link)


def person_for(graph: IdentityGraph, who: str) -> Person | None:
    """The merged person behind identifier node `who` ("u:<userId>", "a:<anonymousId>", "e:<email>")."""
    kind, _, ident = who.partition(":")
    key = {"u": "user_id", "a": "anonymous_id", "e": "email"}.get(kind)
    return graph.person_of(**{key: ident}) if key else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
