"""From the staged input to ready matches: read counts and rejects, events already applied, people to leads."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.identity import IdentityGraph
from segmarketo_cli.jobs.apply_events.accounting import Ledger
from segmarketo_cli.jobs.apply_events.events import CollectedEvents, person_for
from segmarketo_cli.jobs.apply_events.leads import LeadIndex, LeadResolver
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.apply_events.staging import StagedEvents, batches, load, rows
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state import StateStore


def count_input(collected: CollectedEvents, staged: StagedEvents, rules: list[Rule], report: RunReport,
                ledger: Ledger) -> None:
    """The read's buckets, then the rejects file: malformed lines, then rejected (rule, event) pairs, in read order."""
    for bucket, n in collected.counts.items():
        report.add(bucket, n)
    for origin, reason in rows(staged.con, "SELECT origin, reason FROM ae_rejects WHERE rule IS NULL ORDER BY seq"):
        ledger.malformed(origin, reason)
    for index, n in staged.count_by_rule("ae_matches").items():
        ledger.bucket(rules[index], "matched", n)
    for index, n in staged.count_by_rule("ae_rejects", "rule IS NOT NULL").items():
        ledger.bucket(rules[index], "matched", n)
        ledger.bucket(rules[index], "rejected", n)
    for index, message_id, origin, reason, field, value in rows(
            staged.con, "SELECT rule, message_id, origin, reason, field, value FROM ae_rejects "
                        "WHERE rule IS NOT NULL ORDER BY seq"):
        ledger.reject(rules[index], message_id, origin, reason, field=field, value=load(value))


def drop_already_applied(staged: StagedEvents, rules: list[Rule], store: StateStore, instance: str,
                         ledger: Ledger) -> None:
    """Matches whose messageId an earlier run applied are counted `already_applied` and left out of the plan.

    The state store is asked a batch of messageIds at a time; the answers go to the `ae_done` table."""
    for batch in batches(staged.con, "SELECT rule, message_id FROM ae_matches"):
        by_rule: dict[int, list[str]] = {}
        for index, message_id in batch:
            by_rule.setdefault(index, []).append(message_id)
        for index, ids in by_rule.items():
            for message_id in store.processed(instance, rules[index].name, ids):
                staged.done.add(index, message_id)
    staged.flush()
    for index, n in staged.count_by_rule("ae_done").items():
        ledger.bucket(rules[index], "already_applied", n)


def key_people(staged: StagedEvents, graph: IdentityGraph, resolver: LeadResolver, ledger: Ledger,
               rules: list[Rule]) -> None:
    """The lookup value of each person with pending matches; the matches of people without one are rejected."""
    for (who,) in rows(staged.con, "SELECT who FROM ae_pending GROUP BY who ORDER BY min(seq)"):
        person = person_for(graph, who)
        key, reason = resolver.key_for(who, person)
        if key is None or "," in key:
            staged.who.add(who, None, reason or f"{resolver.lookup_field} {key!r} contains a comma", None)
        else:
            staged.who.add(who, key, None, resolver.email_of(who, person))
    staged.flush()
    for index, message_id, origin, reason in rows(
            staged.con, "SELECT rule, message_id, origin, reason FROM ae_keyed WHERE key IS NULL ORDER BY seq"):
        reject(ledger, rules[index], message_id, origin, reason)


def find_leads(staged: StagedEvents, resolver: LeadResolver, read_fields: list[str]) -> tuple[LeadIndex,
                                                                                             dict[str, str | None]]:
    """Lead ids of every lookup value (cache, then Marketo, asking for `read_fields` on the way) and the e-mail of
    each value's first event."""
    emails: dict[str, str | None] = {}
    for key, email in rows(staged.con, "SELECT key, arg_min_null(email, seq) FROM ae_keyed WHERE key IS NOT NULL "
                                       "GROUP BY key ORDER BY min(seq)"):
        emails[key] = email
    index = resolver.resolve(list(emails), read_fields) if emails else LeadIndex()
    return index, emails


def keys_to_create(staged: StagedEvents, rules: list[Rule], index: LeadIndex,
                   emails: dict[str, str | None]) -> dict[str, str | None]:
    """{lookup value: e-mail} of people Marketo does not know who have events of `create = true` rules."""
    creating = [n for n, rule in enumerate(rules) if rule.create]
    if not creating or not index.missing:
        return {}
    marks = ",".join(str(n) for n in creating)
    return {key: emails.get(key) for (key,) in rows(
        staged.con, f"SELECT key FROM ae_keyed WHERE key IS NOT NULL AND rule IN ({marks}) "  # noqa: S608
                    "GROUP BY key ORDER BY min(seq)") if key in index.missing}


def reject_leadless(staged: StagedEvents, index: LeadIndex, ledger: Ledger, rules: list[Rule],
                    lookup_field: str) -> None:
    """Record which lookup values have leads (`ae_found`); the matches of the others are rejected."""
    for key, ids in index.ids.items():
        if ids:
            staged.found.add(key)
    staged.flush()
    for index_, message_id, origin, key in rows(
            staged.con, "SELECT rule, message_id, origin, key FROM ae_keyed k WHERE key IS NOT NULL "
                        "AND NOT EXISTS (SELECT 1 FROM ae_found f WHERE f.key = k.key) ORDER BY seq"):
        reject(ledger, rules[index_], message_id, origin,
               index.reasons.get(key) or f"no Marketo lead with {lookup_field} {key}", value=key)


def reject(ledger: Ledger, rule: Rule, message_id: str, origin: str, reason: str, **details: Any) -> None:
    ledger.bucket(rule, "rejected")
    ledger.reject(rule, message_id, origin, reason, **details)
