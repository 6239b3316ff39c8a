"""apply-events refusals before the lock: one line on stderr, the usual exit code, no write, no run recorded."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.apply_events.test_run import MESSAGES, world, write_export  # noqa: F401  (fixture: world)
from tests.support.refusals import assert_refused
from tests.support.reliability_world import RequestHook
from tests.support.rules import EVERY_ACTION, USAGE_FLAT, write_rules

PROFILE_RULES = textwrap.dedent("""
    [profiles.default]
    [[profiles.default.rules]]
    name = "p"
    event = "E"
""")
BAD_MAPPING = textwrap.dedent("""
    [profiles.default]
    [profiles.default.mapping]
    email = 5
""")

# (what is wrong, (rules file text or None for none, config.toml text or None, extra args), what the line says)
OFFLINE = [
    ("rules file not TOML", ("[[rule]\n", None, ()), "not valid TOML"),
    ("rule without points", ('[[rule]]\nname = "x"\nevent = "E"\naction = "score"\nfield = "leadScore"\n', None, ()),
     "rule 1 (\"x\"), key 'points': is required"),
    ("no rules anywhere", (None, None, ()), "no rules: pass --rules FILE or add [[profiles.<name>.rules]] tables"),
    ("profile rule invalid", (None, PROFILE_RULES, ()),
     "[profiles.default]: rule 1 (\"p\"), key 'action': must be one of"),
    ("mapping table invalid", (EVERY_ACTION, BAD_MAPPING, ()),
     "[profiles.default.mapping]: mapping 'email' must name a Marketo field (a string), got 5"),
]
AGAINST_MARKETO = [
    ("unknown status", (EVERY_ACTION.replace('status = "registered"', 'status = "Atended"'), None, ()),
     "rule 2 (\"webinar\"), key 'status': 'Atended' is not a status of channel 'Webinar'"),
    ("unknown program", (EVERY_ACTION.replace('program = "Q4 Webinar"', 'program = "Nope"'), None, ()),
     "rule 2 (\"webinar\"), key 'program': no Marketo program 'Nope'"),
    ("batch campaign", (EVERY_ACTION.replace('campaign = "Trial Welcome"', 'campaign = "Monthly Blast"'), None, ()),
     "rule 3 (\"welcome\"), key 'campaign': campaign 'Monthly Blast' is a batch campaign"),
    ("inactive campaign", (EVERY_ACTION.replace('campaign = "Trial Welcome"', 'campaign = "Dormant"'), None, ()),
     "rule 3 (\"welcome\"), key 'campaign': campaign 'Dormant' is not active"),
    ("unknown list", (EVERY_ACTION.replace('remove_from_lists = ["Newsletter"]', 'remove_from_lists = ["Gone"]'),
                      None, ()),
     "rule 4 (\"opt-out\"), key 'remove_from_lists': no Marketo static list 'Gone'"),
    ("score on a string field", (EVERY_ACTION.replace('field = "productScore"', 'field = "title"'), None, ()),
     "rule 1 (\"usage\"), key 'field': title is a string field; score rules add points to integer fields"),
    ("score on a read-only field", (USAGE_FLAT.replace('field = "productScore"', 'field = "createdAt"'), None, ()),
     "rule 1 (\"usage\"), key 'field': lead field 'createdAt' is read-only in Marketo"),
    ("unknown lead field", (EVERY_ACTION.replace("mrr = {", "revenue = {"), None, ()),
     "rule 5 (\"stage\"), key 'fields.revenue': Marketo has no lead field 'revenue'"),
    ("constant of the wrong type", (EVERY_ACTION.replace("isCustomer = true", 'isCustomer = "maybe"'), None, ()),
     "rule 5 (\"stage\"), key 'fields.isCustomer': 'maybe' is not boolean"),
    ("lookup field not searchable", (EVERY_ACTION, None, ("--lookup-field", "firstName")),
     "lookup field 'firstName' is not searchable"),
]


@pytest.fixture
def requests(world):  # noqa: F811
    """Every API request the sandbox receives from here on, as (method, path)."""
    box, _, _ = world
    box.marketo.add_campaign("Monthly Blast", type="batch")
    box.marketo.add_campaign("Dormant", type="trigger", active=False)
    return RequestHook(box).paths


def refuse(invoke, tmp_path, isolated_home, setup):
    rules_text, config, extra = setup
    if config is not None:
        isolated_home.mkdir(parents=True, exist_ok=True)
        (isolated_home / "config.toml").write_text(config)
    rules = ["--rules", str(write_rules(tmp_path, rules_text))] if rules_text is not None else []
    return invoke("apply-events", str(write_export(tmp_path, MESSAGES)), *rules, *extra)


@pytest.mark.parametrize(("setup", "message"), [case[1:] for case in OFFLINE], ids=[case[0] for case in OFFLINE])
def test_profile_refusals_come_before_any_marketo_call(world, requests, invoke, tmp_path, isolated_home,  # noqa: F811
                                                       setup, message):
    assert_refused(refuse(invoke, tmp_path, isolated_home, setup), 2, message)
    assert requests == []


@pytest.mark.parametrize(("setup", "message"), [case[1:] for case in AGAINST_MARKETO],
                         ids=[case[0] for case in AGAINST_MARKETO])
def test_rules_checked_against_marketo_with_reads_only(world, requests, invoke, tmp_path, isolated_home,  # noqa: F811
                                                       setup, message):
    box, ids, _ = world
    result = refuse(invoke, tmp_path, isolated_home, setup)
    assert_refused(result, 2, message)
    assert requests != []
    assert {method for method, _ in requests} == {"GET"}
    assert box.marketo.lead(ids["ann"])["productScore"] == 10
    assert box.marketo.campaign_requests(ids["welcome"]) == []


def test_rule_errors_name_the_rules_file(world, invoke, tmp_path, isolated_home):  # noqa: F811
    result = refuse(invoke, tmp_path, isolated_home, (EVERY_ACTION.replace("mrr = {", "revenue = {"), None, ()))
    assert result.stderr.startswith(f"segmarketo: error: {tmp_path / 'rules.toml'}: rule 5 ")


def test_missing_rules_file(world, requests, invoke, tmp_path):  # noqa: F811
    missing = tmp_path / "none.toml"
    result = invoke("apply-events", str(write_export(tmp_path, MESSAGES)), "--rules", str(missing))
    assert_refused(result, 2, f"{missing}: rules file not found")
    assert requests == []


def test_missing_input_file_is_an_input_error(world, requests, invoke, tmp_path):  # noqa: F811
    _, _, rules = world
    result = invoke("apply-events", str(tmp_path / "nope.jsonl"), "--rules", str(rules))
    assert_refused(result, 1, "nope.jsonl")
    assert requests == []  # the files are checked before the rules are checked against Marketo


def test_doctor_checks_profile_rules_like_the_command(world, invoke, isolated_home):  # noqa: F811
    isolated_home.mkdir(parents=True, exist_ok=True)
    config = isolated_home / "config.toml"
    profile_rules = EVERY_ACTION.replace("[[rule]]", "[[profiles.default.rules]]")
    config.write_text("[profiles.default]\n" + profile_rules)
    checks = {c["name"]: c for c in json.loads(invoke("doctor", "--json").stdout)}
    assert checks["rules"] == {"name": "rules", "status": "ok",
                               "detail": "5 profile rule(s): fields, programs, statuses and campaigns exist"}
    config.write_text("[profiles.default]\n" + profile_rules.replace('program = "Q4 Webinar"', 'program = "Nope"'))
    checks = {c["name"]: c for c in json.loads(invoke("doctor", "--json").stdout)}
    assert checks["rules"]["status"] == "fail"
    assert checks["rules"]["detail"] == (f"{config} [profiles.default]: rule 2 (\"webinar\"), key 'program': "
                                         "no Marketo program 'Nope'")
