"""The pure apply-events planner: evaluation of events, timestamp order per lead, grouping and batching."""

from __future__ import annotations

import pytest

from segmarketo_cli.jobs.apply_events.plan import (
    EventRejected,
    Match,
    Targets,
    build_plan,
    describe_plan,
    evaluate,
    pick_leads,
    tally_of,
)
from segmarketo_cli.jobs.apply_events.rules import parse_rules

RULES = parse_rules(
    [
        {"name": "usage", "event": "Report Created", "action": "score", "field": "productScore",
         "points": {"property": "weight", "default": 2}},
        {"name": "bonus", "event": "Seats Added", "action": "score", "field": "leadScore", "points": 10},
        {"name": "webinar", "event": "Webinar Registered", "action": "program-status", "program": "W",
         "status": "Registered"},
        {"name": "attended", "event": "Webinar Attended", "action": "program-status", "program": "W",
         "status": "Attended"},
        {"name": "welcome", "event": "Trial Started", "action": "trigger-campaign", "campaign": "C",
         "tokens": {"plan": {"property": "plan"}}},
        {"name": "opt-out", "event": "Unsubscribed", "action": "suppress", "remove_from_lists": ["L"]},
        {"name": "stage", "event": ["Trial Started", "Subscription Started"], "action": "set-fields",
         "fields": {"lifecycleStage": {"property": "stage"}, "mrr": {"property": "mrr"}}},
    ],
    "test",
)
BY_NAME = {r.name: r for r in RULES}
TARGETS = {
    "webinar": Targets(program_id=7, status_step=2),
    "attended": Targets(program_id=7, status_step=3),
    "welcome": Targets(campaign_id=70),
    "opt-out": Targets(list_ids=(11,)),
}


def coerce(field, value):
    if field == "mrr":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    return str(value)


def match(rule_name, payload, lead_ids, ts, seq=0, mid=None):
    return Match(BY_NAME[rule_name], mid or f"m-{rule_name}-{ts}-{seq}", ts, f"f:{seq}", payload, lead_ids)


def test_evaluate_each_action():
    msg = {"event": "Report Created", "properties": {"weight": "3", "plan": "pro", "stage": "Trial", "mrr": "9.5"}}
    assert evaluate(BY_NAME["usage"], msg, coerce) == 3
    assert evaluate(BY_NAME["usage"], {"properties": {}}, coerce) == 2  # default
    assert evaluate(BY_NAME["bonus"], {}, coerce) == 10
    assert evaluate(BY_NAME["welcome"], msg, coerce) == (("{{my.plan}}", "pro"),)
    assert evaluate(BY_NAME["opt-out"], {"event": "Unsubscribed", "properties": {"reason": "too many"}}, coerce) \
        == "too many"
    assert evaluate(BY_NAME["opt-out"], {"event": "Unsubscribed"}, coerce) == "Segment event 'Unsubscribed'"
    assert evaluate(BY_NAME["stage"], msg, coerce) == {"lifecycleStage": "Trial", "mrr": 9.5}
    assert evaluate(BY_NAME["stage"], {"properties": {"stage": "Customer"}}, coerce) == {"lifecycleStage": "Customer"}


@pytest.mark.parametrize(
    ("rule", "message", "reason", "field"),
    [
        ("usage", {"properties": {"weight": "lots"}}, "points from property 'weight' must be a whole number",
         "productScore"),
        ("usage", {"properties": {"weight": 1.5}}, "must be a whole number", "productScore"),
        ("welcome", {"properties": {}}, "token {{my.plan}}: property 'plan' is missing", "{{my.plan}}"),
        ("stage", {"properties": {"mrr": "ten"}}, "field mrr: 'ten' is not a number", "mrr"),
        ("stage", {"properties": {}}, "none of the rule's field values is present", None),
    ],
)
def test_evaluate_rejections(rule, message, reason, field):
    with pytest.raises(EventRejected) as info:
        evaluate(BY_NAME[rule], message, coerce)
    assert reason in info.value.reason
    assert info.value.field == field


def test_scores_are_summed_per_lead_and_field():
    plan = build_plan([match("usage", 3, (1,), 10), match("usage", 2, (1,), 5), match("bonus", 10, (1,), 7),
                       match("usage", 4, (2,), 1)], TARGETS)
    assert plan.updates[1].deltas == {"productScore": 5, "leadScore": 10}
    assert plan.updates[1].record({"productScore": 40, "leadScore": None}) == {
        "id": 1, "productScore": 45, "leadScore": 10}
    assert plan.updates[2].record({}) == {"id": 2, "productScore": 4}
    assert plan.read_fields == ["leadScore", "productScore"]


def test_set_fields_latest_event_wins_whatever_the_input_order():
    later = match("stage", {"lifecycleStage": "Customer"}, (1,), ts=200)
    earlier = match("stage", {"lifecycleStage": "Trial", "mrr": 10.0}, (1,), ts=100)
    plan = build_plan([later, earlier], TARGETS)
    assert plan.updates[1].values == {"lifecycleStage": "Customer", "mrr": 10.0}
    assert [m.ts for m in plan.updates[1].matches] == [100, 200]


def test_suppress_reaches_every_duplicate_and_plans_list_removal():
    plan = build_plan([match("opt-out", "bye", (5, 3), 1)], TARGETS)
    assert sorted(plan.updates) == [3, 5]
    assert plan.updates[3].values == {"unsubscribed": True, "unsubscribedReason": "bye"}
    assert plan.removal.by_list == {11: [3, 5]}
    everything = build_plan([match("opt-out", "bye", (5,), 1)], {"opt-out": Targets(list_ids="all")})
    assert everything.removal.all_lists == [5]
    assert everything.removal.by_list == {}
    assert pick_leads(BY_NAME["usage"], (9, 4, 6)) == (4,)


def test_program_status_runs_lower_steps_first():
    plan = build_plan([match("attended", None, (1,), 1), match("webinar", None, (1,), 2),
                       match("webinar", None, (2,), 3), match("webinar", None, (2,), 4)], TARGETS)
    assert [s.status for s in plan.statuses] == ["Registered", "Attended"]
    assert sorted(plan.statuses[0].leads) == [1, 2]
    assert len(plan.statuses[0].leads[2]) == 2


def test_campaign_requests_grouped_by_equal_tokens_and_batched():
    pro = (("{{my.plan}}", "pro"),)
    free = (("{{my.plan}}", "free"),)
    matches = [match("welcome", pro if i % 2 else free, (i,), ts=i, seq=i) for i in range(1, 251)]
    matches.append(match("welcome", pro, (1,), ts=999, seq=999))  # same lead, same tokens: one request
    plan = build_plan(matches, TARGETS)
    assert [c.tokens for c in plan.campaigns] == [pro, free]  # ordered by first event
    assert len(plan.campaigns[0].leads) == 125
    assert len(plan.campaigns[0].leads[1]) == 2
    assert tally_of(plan).write_calls(RULES)["request_campaign"] == 4  # 125 -> 2 calls per group of 100


def test_write_calls_stay_within_leads_over_300():
    matches = [match("usage", 1, (i,), ts=i, seq=i) for i in range(1000)]
    matches += [match("opt-out", "x", (i,), ts=i, seq=i) for i in range(0, 1000, 2)]
    plan = build_plan(matches, TARGETS)
    calls = tally_of(plan).write_calls(RULES)
    assert calls["sync_leads"] == 4  # 1,000 distinct leads, score and suppress in one row each
    assert calls["remove_from_list"] == 2  # 500 suppressed leads on one list


def test_describe_plan_per_rule():
    plan = build_plan([match("usage", 3, (1,), 1), match("usage", 2, (2,), 2), match("webinar", None, (1,), 3),
                       match("welcome", (("{{my.plan}}", "pro"),), (1,), 4), match("opt-out", "x", (2,), 5)],
                      TARGETS)
    summary = {entry["rule"]: entry for entry in describe_plan(tally_of(plan), RULES, TARGETS)}
    assert summary["usage"] == {"rule": "usage", "action": "score", "field": "productScore", "leads": 2,
                                "points": 5}
    assert summary["webinar"]["leads"] == 1
    assert summary["webinar"]["program_id"] == 7
    assert summary["welcome"]["calls"] == 1
    assert summary["opt-out"]["remove_from_lists"] == [11]
    assert summary["bonus"]["leads"] == 0
