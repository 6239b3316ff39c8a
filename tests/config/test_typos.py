"""Typos are errors: unknown profile keys exit 2 naming the closest known key; 'did you mean' for Marketo names."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli import paths
from segmarketo_cli.suggest import closest, did_you_mean
from tests.apply_events.test_run import MESSAGES, world, write_export  # noqa: F401  (fixture: world)
from tests.support.rules import EVERY_ACTION, write_rules


def write_config(text: str) -> None:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("typo", "meant"), [("daily_budjet", "daily_budget"), ("lookup_feild", "lookup_field"),
                                              ("Max_Concurrency", "max_concurrency")])
def test_closest_finds_the_intended_name(typo, meant):
    assert closest(typo, ["daily_budget", "lookup_field", "max_concurrency", "max_retries"]) == meant


def test_no_hint_when_nothing_is_close():
    assert did_you_mean("xyzzy", ["daily_budget", "lookup_field"]) == ""


def test_unknown_scalar_key_is_a_config_error_naming_the_closest_key(invoke, isolated_home):
    write_config("[profiles.default]\ndaily_budjet = 5\n")
    result = invoke("runs", "list")
    assert result.exit_code == 2
    assert "unknown key 'daily_budjet' in [profiles.default] — did you mean 'daily_budget'?" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_sub_table_is_a_config_error(invoke, isolated_home):
    write_config("[profiles.default.maping]\nplan = \"leadSource\"\n")
    result = invoke("runs", "list")
    assert result.exit_code == 2
    assert "unknown key 'maping' in [profiles.default] — did you mean 'mapping'?" in result.stderr


def test_every_unknown_key_is_named_once(invoke, isolated_home):
    write_config("[profiles.default]\ndaily_budjet = 5\nzzz_top = 1\n")
    result = invoke("runs", "list")
    assert result.exit_code == 2
    assert "'daily_budjet'" in result.stderr
    assert "unknown key 'zzz_top' in [profiles.default]" in result.stderr
    assert "'zzz_top' in [profiles.default] — did you mean" not in result.stderr


def test_unknown_key_in_another_profile_does_not_stop_this_one(invoke, isolated_home):
    write_config("[profiles.default]\ndaily_budget = 5\n[profiles.other]\ndaily_budjet = 5\n")
    assert invoke("runs", "list").exit_code == 0
    assert invoke("--profile", "other", "runs", "list").exit_code == 2


def test_fields_table_typo_gets_a_hint(invoke, isolated_home):
    write_config("[profiles.default.fields]\nfill_onyl = [\"leadSource\"]\n")
    result = invoke("backfill-leads", "--dry-run", str(isolated_home / "missing.jsonl"))
    assert result.exit_code == 2
    assert "unknown key(s) fill_onyl" in result.stderr
    assert "did you mean 'fill_only'?" in result.stderr


def test_doctor_does_not_pass_with_an_unknown_key(invoke, sandbox, isolated_home):
    write_config("[profiles.default]\ndaily_budjet = 5\n")
    result = invoke("doctor")
    assert result.exit_code != 0
    assert "All checks passed" not in result.stdout
    assert "did you mean 'daily_budget'?" in result.output


def test_mapping_to_a_mistyped_field_suggests_the_field(invoke, sandbox, isolated_home):
    write_config('[profiles.default.mapping]\nstage = "lifecycleStag"\n')
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["mapping"]["status"] == "fail"
    assert "'stage' -> 'lifecycleStag' is not a Marketo lead field — did you mean 'lifecycleStage'?" in \
        checks["mapping"]["detail"]


def test_mistyped_lookup_field_suggests_the_field(invoke, sandbox, isolated_home, tmp_path):
    people = tmp_path / "people.jsonl"
    people.write_text(json.dumps({"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}}) + "\n")
    write_config('[profiles.default]\nlookup_field = "emial"\n')
    result = invoke("backfill-leads", "--dry-run", str(people))
    assert result.exit_code == 2
    assert "lookup field 'emial' is not a Marketo lead field" in result.stderr
    assert "did you mean 'email'?" in result.stderr


def test_mistyped_list_name_suggests_the_list(invoke, sandbox, isolated_home, tmp_path):
    sandbox.marketo.add_list("Newsletter Subscribers")
    audience = tmp_path / "audience.csv"
    audience.write_text("email\na@example.com\n")
    result = invoke("sync-audience", str(audience), "--list", "Newsleter Subscribers", "--dry-run")
    assert result.exit_code == 2
    assert "static list 'Newsleter Subscribers' not found in Marketo — did you mean 'Newsletter Subscribers'?" \
        in result.stderr


@pytest.mark.parametrize(("old", "typo", "message"), [
    ('program = "Q4 Webinar"', 'program = "Q4 Webinr"', "no Marketo program 'Q4 Webinr' — did you mean 'Q4 Webinar'?"),
    ('campaign = "Trial Welcome"', 'campaign = "Trial Welcom"',
     "no Marketo smart campaign 'Trial Welcom' — did you mean 'Trial Welcome'?"),
    ('remove_from_lists = ["Newsletter"]', 'remove_from_lists = ["Newsleter"]',
     "no Marketo static list 'Newsleter' — did you mean 'Newsletter'?"),
    ('field = "productScore"', 'field = "productScor"', "no lead field 'productScor' — did you mean 'productScore'?"),
])
def test_apply_events_rules_with_a_mistyped_name_get_a_hint(world, invoke, tmp_path, old, typo, message):  # noqa: F811
    rules = write_rules(tmp_path, EVERY_ACTION.replace(old, typo))
    result = invoke("apply-events", str(write_export(tmp_path, MESSAGES)), "--rules", str(rules))
    assert result.exit_code == 2
    assert message in result.stderr
