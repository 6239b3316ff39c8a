"""apply-events on the DuckDB staging: generated events against outcomes computed independently, at the default
memory limit, at 64MB (the spill path) and with the plan cut into many small windows."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest

from segmarketo_cli.jobs.apply_events import events, staging, windows
from tests.support.rules import EVERY_ACTION, write_rules

PEOPLE = 40  # people 0-29 have a lead, 30-39 are identified but have none
WITH_LEAD = 30


def email(n: int) -> str:
    return f"person{n}@example.com"


@dataclass
class Expected:
    """What the run must do, computed from the generated events without the job's code."""

    scores: dict[int, int] = field(default_factory=dict)  # person -> points added
    webinar: set[int] = field(default_factory=set)
    campaigns: set[tuple[int, str]] = field(default_factory=set)  # (person, plan token)
    mrr: dict[int, float] = field(default_factory=dict)  # person -> latest mrr
    unsubscribed: dict[int, str] = field(default_factory=dict)  # person -> latest reason
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (messageId, reason start), file order
    matched: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


def generate(seed: int = 14) -> tuple[list[dict], Expected]:
    """Identifies, then 700 tracks: several rules, repeated messageIds, unknown people, scores summed per lead."""
    rnd = random.Random(seed)
    messages: list[dict] = [{"type": "identify", "messageId": f"id-{n}", "userId": f"u{n}", "anonymousId": f"a{n}",
                             "traits": {"email": email(n)}, "timestamp": "2026-11-01T00:00:00Z"}
                            for n in range(PEOPLE)]
    expected = Expected()
    never_identified: list[str] = []
    no_lead: list[str] = []
    sent: list[dict] = []
    for i in range(700):
        if sent and rnd.random() < 0.08:  # the same event again, as in overlapping export files
            messages.append(dict(rnd.choice(sent)))
            expected.duplicates += 1
            continue
        n = rnd.randrange(PEOPLE + 3)  # 40-42: anonymousIds nobody identifies
        who = {"userId": f"u{n}"} if n < PEOPLE and rnd.random() < 0.7 else {"anonymousId": f"a{n}"}
        kind = rnd.choice(["score", "score", "score", "webinar", "trial", "mrr", "unsub", "other"])
        mid = f"ev-{i}"
        props: dict = {}
        event = {"score": "Report Created", "webinar": "Webinar Registered", "trial": "Trial Started",
                 "mrr": "Subscription Started", "unsub": "Unsubscribed", "other": "Page Scrolled"}[kind]
        if kind == "score":
            props = {"plan": "pro", "weight": rnd.randint(1, 9)}
        elif kind == "trial":
            props = {"plan": rnd.choice(["pro", "team"])}
        elif kind == "mrr":
            props = {"mrr": rnd.choice([49, 99, 199])}
        elif kind == "unsub":
            props = {"why": f"reason {i}"}
        message = {"type": "track", "messageId": mid, "event": event, "properties": props, **who,
                   "timestamp": f"2026-11-02T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"}
        messages.append(message)
        sent.append(message)
        if kind == "other":
            continue
        rule = {"score": "usage", "webinar": "webinar", "trial": "welcome", "mrr": "stage", "unsub": "opt-out"}[kind]
        expected.matched[rule] = expected.matched.get(rule, 0) + 1
        if n >= PEOPLE:
            never_identified.append(mid)
            continue
        if n >= WITH_LEAD:
            no_lead.append(mid)
            continue
        if kind == "score":
            expected.scores[n] = expected.scores.get(n, 0) + props["weight"]
        elif kind == "webinar":
            expected.webinar.add(n)
        elif kind == "trial":
            expected.campaigns.add((n, props["plan"]))
        elif kind == "mrr":
            expected.mrr[n] = float(props["mrr"])
        elif kind == "unsub":
            expected.unsubscribed[n] = props["why"]
    expected.rejects = [(mid, "anonymous person") for mid in never_identified] + \
                       [(mid, "no Marketo lead") for mid in no_lead]
    return messages, expected


def assert_outcomes(m, leads, ids, expected: Expected) -> None:
    """Marketo holds exactly what the expected outcomes say."""
    for n, lead in leads.items():
        assert m.lead(lead)["productScore"] == n + expected.scores.get(n, 0), n
        assert m.lead(lead).get("unsubscribed", False) is (n in expected.unsubscribed), n
        if n in expected.unsubscribed:
            assert m.lead(lead)["unsubscribedReason"] == expected.unsubscribed[n]
        if n in expected.mrr:
            assert float(m.lead(lead)["mrr"]) == expected.mrr[n]
    assert set(m.program_members(ids["webinar"])) == {leads[n] for n in expected.webinar}
    requested = [(lead, r["tokens"][0]["value"]) for r in m.campaign_requests(ids["welcome"]) for lead in r["leadIds"]]
    assert sorted(requested) == sorted((leads[n], plan) for n, plan in expected.campaigns)  # each exactly once
    assert m.list_members(ids["newsletter"]) == {lead for n, lead in leads.items() if n not in expected.unsubscribed}


@pytest.fixture
def world(sandbox, tmp_path):
    m = sandbox.marketo
    leads = {n: m.add_lead(email=email(n), productScore=n) for n in range(WITH_LEAD)}
    newsletter = m.add_list("Newsletter")
    m.add_to_list(newsletter, list(leads.values()))
    webinar = m.add_program("Q4 Webinar", channel="Webinar")
    welcome = m.add_campaign("Trial Welcome", type="trigger")
    return sandbox, leads, {"newsletter": newsletter, "webinar": webinar, "welcome": welcome}


@pytest.mark.parametrize("mode", ["default", "memory-limit-64MB", "small-windows", "small-chunks"])
def test_generated_events_match_the_expected_outcomes(world, invoke, tmp_path, monkeypatch, mode):
    box, leads, ids = world
    m = box.marketo
    messages, expected = generate()
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(message) + "\n" for message in messages))
    rules = write_rules(tmp_path, EVERY_ACTION)
    rejects = tmp_path / "rejects.jsonl"
    extra = ["--memory-limit", "64MB"] if mode == "memory-limit-64MB" else []
    if mode == "small-windows":
        monkeypatch.setattr(windows, "WINDOW_MATCHES", 25)  # a dozen windows instead of one
    if mode == "small-chunks":  # repeats found across chunks (the engine's ae_seen), batches of 7 rows
        monkeypatch.setattr(events, "CHUNK", 16)
        monkeypatch.setattr(staging, "CHUNK", 7)

    result = invoke("apply-events", str(export), "--rules", str(rules), "--json", "--rejects", str(rejects), *extra)

    assert result.exit_code == 3, result.output  # the events of unknown people are rejected
    report = json.loads(result.stdout)
    counts = report["counts"]
    assert "imbalances" not in report
    assert counts["duplicates"] == expected.duplicates
    for rule, n in expected.matched.items():
        assert counts[f"{rule}.matched"] == n, rule
    assert counts["rejected"] == len(expected.rejects)
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [line["messageId"] for line in lines] == [mid for mid, _ in expected.rejects]
    for line, (_, reason) in zip(lines, expected.rejects, strict=True):
        assert reason in line["reason"]
    assert_outcomes(m, leads, ids, expected)

    again = invoke("apply-events", str(export), "--rules", str(rules), "--json", *extra)
    repeat = json.loads(again.stdout)["counts"]
    assert repeat["usage.already_applied"] == counts["usage.applied"]
    assert repeat["usage.applied"] == 0
    assert m.lead(leads[0])["productScore"] == expected.scores.get(0, 0)


def test_dry_run_plans_the_same_in_small_windows(world, invoke, tmp_path, monkeypatch):
    messages, _ = generate(seed=3)
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(message) + "\n" for message in messages))
    rules = write_rules(tmp_path, EVERY_ACTION)
    whole = json.loads(invoke("apply-events", str(export), "--rules", str(rules), "--json", "--dry-run").stdout)
    monkeypatch.setattr(windows, "WINDOW_MATCHES", 10)
    cut = json.loads(invoke("apply-events", str(export), "--rules", str(rules), "--json", "--dry-run").stdout)
    assert cut["counts"] == whole["counts"]
    assert cut["details"]["plan"] == whole["details"]["plan"]
    assert cut["details"]["planned_write_calls"] == whole["details"]["planned_write_calls"]


def test_quota_stop_in_a_window_defers_the_rest_and_the_rerun_finishes(world, invoke, tmp_path, monkeypatch):
    box, leads, ids = world
    messages, expected = generate()
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(message) + "\n" for message in messages))
    rules = write_rules(tmp_path, EVERY_ACTION)
    monkeypatch.setattr(windows, "WINDOW_MATCHES", 25)
    box.faults.add("607", path="/rest/v1/campaigns/")  # the day's quota runs out in the first window's campaigns

    first = invoke("apply-events", str(export), "--rules", str(rules), "--json")

    assert first.exit_code == 75, first.output
    report = json.loads(first.stdout)
    assert "imbalances" not in report  # every match of the windows not reached is counted deferred
    deferred = sum(n for name, n in report["counts"].items() if name.endswith(".deferred"))
    applied = sum(n for name, n in report["counts"].items() if name.endswith(".applied"))
    assert deferred > 25
    assert applied > 0
    second = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert second.exit_code == 3, second.output
    assert_outcomes(box.marketo, leads, ids, expected)
