"""Read an export for apply-events: feed the identity graph, match track events to rules, evaluate them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.identity import IdentityGraph, Person, find_email
from segmarketo_cli.jobs.apply_events.plan import Coercer, EventRejected, Match, evaluate
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.sources import SourceItem
from segmarketo_cli.sources.shape import shape_problem
from segmarketo_cli.timeparse import message_time

TOP_BUCKETS = ("messages", "events_matched", "events_unmatched", "other_messages", "duplicates", "malformed")


@dataclass(slots=True)
class Rejection:
    """A (rule, event) pair that cannot be applied, with the reason and where the event came from."""

    rule: Rule
    message_id: str | None
    origin: str
    reason: str
    field: str | None = None
    value: Any = None


@dataclass
class CollectedEvents:
    """Everything apply-events needs from the input: matches, rejections, who each match is, and counts."""

    matches: list[Match] = field(default_factory=list)
    who: list[str] = field(default_factory=list)  # parallel to matches: "u:<userId>", "a:<anonymousId>", "e:<email>"
    rejections: list[Rejection] = field(default_factory=list)
    malformed: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOP_BUCKETS, 0))
    graph: IdentityGraph = field(default_factory=IdentityGraph)


class EventCollector:
    """Streams SourceItems once; memory grows with matched events and distinct people, not with the file."""

    def __init__(self, rules: list[Rule], coerce: Coercer) -> None:
        self.rules = rules
        self.coerce = coerce
        self.by_event: dict[str, list[Rule]] = {}
        for rule in rules:
            for name in rule.events:
                self.by_event.setdefault(name, []).append(rule)
        self.out = CollectedEvents()
        self._seen_ids: set[str] = set()
        self._links: set[tuple[str | None, str | None, str | None]] = set()
        self._interned: dict[str, str] = {}
        self._payloads: dict[Any, Any] = {}  # equal payloads (tokens, field values) are shared, not copied

    def feed(self, items: Iterable[SourceItem]) -> CollectedEvents:
        out = self.out
        for item in items:
            out.counts["messages"] += 1
            message = item.message
            if not item.ok or message is None:
                out.counts["malformed"] += 1
                out.malformed.append((item.origin, item.error or "malformed"))
                continue
            problem = shape_problem(message)
            if problem:
                out.counts["malformed"] += 1
                out.malformed.append((item.origin, problem))
                continue
            message_id = message.get("messageId")
            message_id = str(message_id).strip() if message_id not in (None, "") else None
            if message_id is not None:
                if message_id in self._seen_ids:
                    out.counts["duplicates"] += 1  # the same event in overlapping files: one outcome only
                    continue
                self._seen_ids.add(message_id)
            if message.get("type", "track") != "track":
                out.counts["other_messages"] += 1
                out.graph.add(message, item.origin)
                continue
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
                continue
            out.counts["events_matched"] += 1
            self._match(message, message_id, item.origin, rules, ids)
        return out

    def _match(self, message: Mapping[str, Any], message_id: str | None, origin: str, rules: list[Rule],
               ids: tuple[str | None, str | None, str | None]) -> None:
        out = self.out
        ts = message_time(message)
        user_id, anon_id, email = ids
        node = f"u:{user_id}" if user_id else f"a:{anon_id}" if anon_id else f"e:{email}" if email else None
        who = self._interned.setdefault(node, node) if node else None
        for rule in rules:
            if message_id is None:
                out.rejections.append(Rejection(rule, None, origin, "missing messageId (needed to apply it once)"))
            elif ts is None:
                out.rejections.append(Rejection(rule, message_id, origin, "missing or unreadable timestamp"))
            elif who is None:
                out.rejections.append(Rejection(rule, message_id, origin, "no userId, anonymousId or e-mail"))
            else:
                try:
                    payload = evaluate(rule, message, self.coerce)
                except EventRejected as exc:
                    out.rejections.append(Rejection(rule, message_id, origin, exc.reason, exc.field, exc.value))
                    continue
                out.matches.append(Match(rule, message_id, ts, origin, self._shared(payload)))
                out.who.append(who)

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

    def _shared(self, payload: Any) -> Any:
        try:
            key = (type(payload), tuple(sorted(payload.items())) if isinstance(payload, dict) else payload)
            return self._payloads.setdefault(key, payload)
        except TypeError:  # an unhashable value: keep this event's own copy
            return payload


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
