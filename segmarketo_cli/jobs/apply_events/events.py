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


class EventCollector:
    """Streams SourceItems once, a chunk at a time; per-event state (messageIds, matches, rejections) goes to
    `staged`, so memory grows with distinct people, not with events."""

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
        self._links: set[tuple[str | None, str | None, str | None]] = set()

    def feed(self, items: Iterable[SourceItem]) -> CollectedEvents:
        chunk: list[SourceItem] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= CHUNK:
                self._feed_chunk(chunk)
                chunk = []
        self._feed_chunk(chunk)
        self.staged.flush()
        return self.out

    def _feed_chunk(self, chunk: list[SourceItem]) -> None:
        out = self.out
        valid: list[tuple[SourceItem, dict[str, Any], str | None]] = []
        for item in chunk:
            out.counts["messages"] += 1
            message = item.message
            if not item.ok or message is None:
                out.counts["malformed"] += 1
                self.staged.add_reject(None, None, item.origin, item.error or "malformed")
                continue
            problem = shape_problem(message)
            if problem:
                out.counts["malformed"] += 1
                self.staged.add_reject(None, None, item.origin, problem)
                continue
            message_id = message.get("messageId")
            valid.append((item, message, str(message_id).strip() if message_id not in (None, "") else None))
        seen = self.staged.seen_before([m for _, _, m in valid if m is not None])
        for item, message, message_id in valid:
            if message_id is not None:
                if message_id in seen:
                    out.counts["duplicates"] += 1  # the same event in overlapping files: one outcome only
                    continue
                seen.add(message_id)
            self._one(item, message, message_id)

    def _one(self, item: SourceItem, message: dict[str, Any], message_id: str | None) -> None:
        out = self.out
        if message.get("type", "track") != "track":
            out.counts["other_messages"] += 1
            out.graph.add(message, item.origin)
            return
        if "properties" not in message and isinstance(message.get("traits"), dict):
            # A warehouse `tracks` row: the reader puts its extra columns in traits; for a track they are
            # the event's properties (Spec tracks carry no top-level traits).
            message["properties"] = message.pop("traits")
        ids = (_text(message.get("userId")), _text(message.get("anonymousId")), find_email(message))
        self._link(message, ids)
        event = message.get("event")
        candidates = self.by_event.get(event, []) if isinstance(event, str) else []
        rules = [r for r in candidates if r.matches(message)]
        if not rules:
            out.counts["events_unmatched"] += 1
            return
        out.counts["events_matched"] += 1
        self._match(message, message_id, item.origin, rules, ids)

    def _match(self, message: Mapping[str, Any], message_id: str | None, origin: str, rules: list[Rule],
               ids: tuple[str | None, str | None, str | None]) -> None:
        staged = self.staged
        ts = message_time(message)
        user_id, anon_id, email = ids
        who = f"u:{user_id}" if user_id else f"a:{anon_id}" if anon_id else f"e:{email}" if email else None
        for rule in rules:
            index = self.index[id(rule)]
            if message_id is None:
                staged.add_reject(index, None, origin, "missing messageId (needed to apply it once)")
            elif ts is None:
                staged.add_reject(index, message_id, origin, "missing or unreadable timestamp")
            elif who is None:
                staged.add_reject(index, message_id, origin, "no userId, anonymousId or e-mail")
            else:
                try:
                    payload = evaluate(rule, message, self.coerce)
                except EventRejected as exc:
                    staged.add_reject(index, message_id, origin, exc.reason, exc.field, exc.value)
                    continue
                staged.add_match(index, message_id, ts, origin, who, payload)

    def _link(self, message: Mapping[str, Any], ids: tuple[str | None, str | None, str | None]) -> None:
        """A track carrying several identifiers (userId, anonymousId, e-mail) ties them to one person."""
        if sum(1 for v in ids if v) < 2 or ids in self._links:
            return
        self._links.add(ids)
        user_id, anon_id, email = ids
        link: dict[str, Any] = {"type": "identify", "timestamp": message.get("timestamp")}
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
