"""Rules file parsing and validation: every error names the rule (index and name) and the key."""

from __future__ import annotations

import textwrap

import pytest

from segmarketo_cli.config import RulesSection
from segmarketo_cli.errors import ConfigError, ExitCode
from segmarketo_cli.jobs.apply_events.rules import (
    load_profile_rules,
    load_rules_file,
    normalize_token_name,
    parse_rules,
)

GOOD = """
[[rule]]
name = "usage-score"
event = ["Report Created", "Dashboard Shared"]
where = { plan = "pro", seats = { gte = 3 } }
action = "score"
field = "productScore"
points = 5

[[rule]]
name = "seat-score"
event = "Seats Added"
action = "score"
field = "leadScore"
points = { property = "seats", default = 1 }

[[rule]]
name = "webinar"
event = "Webinar Registered"
action = "program-status"
program = "Webinar"
status = "Registered"

[[rule]]
name = "trial-welcome"
event = "Trial Started"
action = "trigger-campaign"
campaign = 1001
tokens = { "my.plan" = { property = "plan" }, "{{my.source}}" = "segment", trial = { trait = "firstName" } }
create = true

[[rule]]
name = "opt-out"
event = "Unsubscribed"
action = "suppress"
reason = { property = "why", default = "opted out" }
remove_from_lists = ["Newsletter", 12]

[[rule]]
name = "customer"
event = "Subscription Started"
action = "set-fields"
fields = { lifecycleStage = "Customer", isCustomer = true, mrr = { property = "mrr" } }
"""


def write(tmp_path, text: str):
    path = tmp_path / "rules.toml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_rules_file(write(tmp_path, text))
    assert info.value.exit_code == ExitCode.USAGE
    return str(info.value)


def test_every_action_parses(tmp_path):
    rules = load_rules_file(write(tmp_path, GOOD))
    assert [r.action for r in rules] == ["score", "score", "program-status", "trigger-campaign", "suppress",
                                         "set-fields"]
    score, seats, webinar, trial, opt_out, customer = rules
    assert score.events == ("Report Created", "Dashboard Shared")
    assert score.points.read({}) == 5
    assert seats.points.read({"properties": {"seats": 4}}) == 4
    assert seats.points.read({"properties": {}}) == 1
    assert (webinar.program, webinar.status) == ("Webinar", "Registered")
    assert trial.campaign == 1001
    assert trial.create is True
    assert sorted(trial.tokens) == ["{{my.plan}}", "{{my.source}}", "{{my.trial}}"]
    assert trial.tokens["{{my.trial}}"].read({"context": {"traits": {"firstName": "Ann"}}}) == "Ann"
    assert opt_out.remove_from_lists == ("Newsletter", 12)
    assert opt_out.reason.read({"properties": {}}) == "opted out"
    assert customer.fields["mrr"].read({"properties": {"mrr": "49.5"}}) == "49.5"
    assert customer.fields["isCustomer"].read({}) is True


def test_where_conditions_match_properties():
    [rule] = parse_rules([{"name": "r", "event": "E", "action": "score", "field": "leadScore", "points": 1,
                           "where": {"plan": "pro", "seats": {"gte": 3}, "tier": ["a", "b"],
                                     "plan_info": {"trial": False}, "coupon": {"exists": False}}}], "x")
    base = {"event": "E", "properties": {"plan": "pro", "seats": "4", "tier": "b", "plan_info": {"trial": False}}}
    assert rule.matches(base)
    assert not rule.matches({**base, "event": "Other"})
    assert not rule.matches({**base, "properties": {**base["properties"], "seats": 2}})
    assert not rule.matches({**base, "properties": {**base["properties"], "tier": "c"}})
    assert not rule.matches({**base, "properties": {**base["properties"], "coupon": "X"}})
    assert not rule.matches({"event": "E"})


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('name = "a"\nevent = "E"\naction = "boost"', "rule 1 (\"a\"), key 'action': must be one of"),
        ('name = "a"\nevent = "E"\naction = "score"\nfield = "leadScore"', "rule 1 (\"a\"), key 'points': is required"),
        ('name = "a"\nevent = "E"\naction = "score"\nfield = "leadScore"\npoints = "five"',
         "rule 1 (\"a\"), key 'points': must be a whole number"),
        ('name = "a"\nevent = "E"\naction = "score"\nfield = "leadScore"\npoints = 1.5',
         "key 'points': must be a whole number"),
        ('name = "a"\nevent = []\naction = "suppress"', "rule 1 (\"a\"), key 'event': must be an event name"),
        ('name = "a"\nevent = "E"\naction = "suppress"\nlist = "x"', "rule 1 (\"a\"), key 'list': is not a key"),
        ('name = "a"\nevent = "E"\naction = "suppress"\nremove_from_lists = "some"',
         "key 'remove_from_lists': must be a list"),
        ('name = "a"\nevent = "E"\naction = "program-status"\nprogram = 0\nstatus = "X"',
         "rule 1 (\"a\"), key 'program': must be a Marketo id"),
        ('name = "a"\nevent = "E"\naction = "set-fields"\nfields = { unsubscribed = false }',
         "key 'fields.unsubscribed': consent fields are only set by the suppress action"),
        ('name = "a"\nevent = "E"\naction = "set-fields"\nfields = { stage = { prop = "x" } }',
         "key 'fields.stage': a value from the event"),
        ('name = "a"\nevent = "E"\naction = "score"\nfield = "leadScore"\npoints = 1\nwhere = { seats = { gt = "3" } }',
         "key 'where.seats': 'gt' takes a number"),
        ('name = "a"\nevent = "E"\naction = "score"\nfield = "leadScore"\npoints = 1\ncreate = "yes"',
         "key 'create': must be true or false"),
        ('event = "E"\naction = "suppress"', "rule 1, key 'name': is required"),
    ],
)
def test_errors_name_rule_and_key(tmp_path, snippet, expected):
    message = error_of(tmp_path, "[[rule]]\n" + snippet + "\n")
    assert expected in message
    assert message.startswith(str(tmp_path / "rules.toml"))


def test_second_rule_error_names_index_and_name(tmp_path):
    text = GOOD + '\n[[rule]]\nname = "late"\nevent = "E"\naction = "trigger-campaign"\n'
    assert "rule 7 (\"late\"), key 'campaign': is required for a trigger-campaign rule" in error_of(tmp_path, text)


def test_duplicate_names_and_field_both_scored_and_set(tmp_path):
    dup = '[[rule]]\nname = "a"\nevent = "E"\naction = "suppress"\n' * 2
    assert "rule 2 (\"a\"), key 'name': already used by rule 1" in error_of(tmp_path, dup)
    both = ('[[rule]]\nname = "s"\nevent = "E"\naction = "score"\nfield = "leadScore"\npoints = 1\n'
            '[[rule]]\nname = "f"\nevent = "E"\naction = "set-fields"\nfields = { leadScore = 3 }\n')
    assert "rule 2 (\"f\"), key 'fields.leadScore': field is also the score field of rule 1" in error_of(tmp_path, both)


def test_too_many_tokens(tmp_path):
    tokens = ", ".join(f't{i} = "v"' for i in range(101))
    text = f'[[rule]]\nname = "c"\nevent = "E"\naction = "trigger-campaign"\ncampaign = 5\ntokens = {{ {tokens} }}\n'
    assert "key 'tokens': Marketo takes at most 100 tokens per request" in error_of(tmp_path, text)


def test_file_level_errors(tmp_path):
    assert "rules file not found" in str(pytest.raises(ConfigError, load_rules_file, tmp_path / "none.toml").value)
    assert "not valid TOML" in error_of(tmp_path, "[[rule]\n")
    assert "unknown top-level key 'rulez'" in error_of(tmp_path, "[[rulez]]\nname = 'a'\n")
    assert "no rules" in error_of(tmp_path, "")


def test_profile_rules():
    rules = load_profile_rules(RulesSection(({"name": "p", "event": "E", "action": "suppress"},)), "config.toml")
    assert rules[0].name == "p"
    assert rules[0].remove_from_lists == ()
    with pytest.raises(ConfigError, match="pass --rules FILE"):
        load_profile_rules(None, "config.toml")
    with pytest.raises(ConfigError, match=r"config.toml: rule 1 \(\"p\"\), key 'action'"):
        load_profile_rules(RulesSection(({"name": "p", "event": "E"},)), "config.toml")


def test_token_names_normalise():
    assert normalize_token_name("plan") == "{{my.plan}}"
    assert normalize_token_name("my.plan") == "{{my.plan}}"
    assert normalize_token_name("{{my.plan}}") == "{{my.plan}}"
