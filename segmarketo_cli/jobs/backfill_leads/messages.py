"""What backfill-leads makes of one read item: used, ignored or malformed (the reader's steps every read path
shares: read.py's Python reader and columnar.py's lines left to Python)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segmarketo_cli.identity import find_email
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.sources.items import SourceItem
from segmarketo_cli.sources.jsonlines import ContainsAny
from segmarketo_cli.sources.shape import shape_problem, text_problem

MESSAGE_BUCKETS = ("messages_read", "messages_used", "messages_ignored", "messages_malformed")

# Cheap byte test: only identify and alias messages, or messages carrying a Munchkin cookie, are used.
might_matter = ContainsAny(b'"identify"', b'"alias"', b"marketoCookie")


def take_item(item: SourceItem, add: Callable[[dict[str, Any], str], bool], counts: dict[str, int],
              rejects: RejectsWriter) -> None:
    """Count one read item used, ignored or malformed (rejected with its origin), handing a usable one to `add`."""
    counts["messages_read"] += 1
    if item.skipped:
        counts["messages_ignored"] += 1
        return
    if item.error is None and item.message is not None:
        problem = message_problem(item.message)
        if problem is None:
            counts["messages_used" if add(item.message, item.origin) else "messages_ignored"] += 1
            return
    else:
        problem = item.error or "not a message"
    counts["messages_malformed"] += 1
    rejects.write(f"malformed input: {problem}", origin=item.origin)


def message_problem(message: Any) -> str | None:
    """Why a parsed message is malformed (None when it is a usable Spec message)."""
    if not isinstance(message, dict):
        return "not a message"
    problem = shape_problem(message)
    if problem:
        return problem
    kind = message.get("type")
    if not kind:
        return "no 'type' field"
    no_id = not (message.get("userId") or message.get("anonymousId"))
    if kind == "identify":
        email = find_email(message)
        if no_id and email is None:
            return "identify without userId, anonymousId or email"
        if email is not None:
            return text_problem("email", email)
    if kind == "alias" and not (message.get("previousId") and message.get("userId")):
        return "alias without previousId and userId"
    return None
