"""backfill-leads input: identify and alias messages read into one identity graph, every message counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segmarketo_cli.identity import IdentityGraph, find_email
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import InputFile, read_all
from segmarketo_cli.sources.jsonlines import ContainsAny
from segmarketo_cli.sources.shape import shape_problem

MESSAGE_BUCKETS = ("messages_read", "messages_used", "messages_ignored", "messages_malformed")
PROGRESS_STEP = 10_000

# Cheap byte test: only identify and alias messages, or messages carrying a Munchkin cookie, are used.
might_matter = ContainsAny(b'"identify"', b'"alias"', b"marketoCookie")


def read_people(inputs: list[InputFile], graph: IdentityGraph, *, report: RunReport, rejects: RejectsWriter,
                progress: Callable[..., Any]) -> IdentityGraph:
    """Every message of `inputs` into `graph`; each one counted used, ignored or malformed (malformed ones go to
    the rejects file with their origin)."""
    counts = dict.fromkeys(MESSAGE_BUCKETS, 0)
    with progress(None, "reading", unit="msg") as bar:
        for item in read_all(inputs, keep=might_matter):
            counts["messages_read"] += 1
            if counts["messages_read"] % PROGRESS_STEP == 0:
                bar.update(PROGRESS_STEP)
            if item.skipped:
                counts["messages_ignored"] += 1
                continue
            if item.error is None and item.message is not None:
                problem = message_problem(item.message)
                if problem is None:
                    counts["messages_used" if graph.add(item.message, item.origin) else "messages_ignored"] += 1
                    continue
            else:
                problem = item.error or "not a message"
            counts["messages_malformed"] += 1
            rejects.write(f"malformed input: {problem}", origin=item.origin)
    for bucket, n in counts.items():
        report.add(bucket, n)
    report.details["people"] = len(graph)
    return graph


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
    if kind == "identify" and no_id and find_email(message) is None:
        return "identify without userId, anonymousId or email"
    if kind == "alias" and not (message.get("previousId") and message.get("userId")):
        return "alias without previousId and userId"
    return None
