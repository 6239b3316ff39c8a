"""`segmarketo doctor` against the sandbox: green on a good profile, one failing line (exit 1) per problem."""

from __future__ import annotations

import json

from segmarketo_cli.paths import sample_data_dir
from tests.support.sandbox_env import SANDBOX_CLIENT_SECRET, SANDBOX_WRITE_KEY

GOOD_PROFILE = """
[profiles.default]
lookup_field = "email"
user_id_field = "segmentUserId"
daily_budget = 20000

[profiles.default.mapping]
plan = "lifecycleStage"
"company.plan" = "leadSource"

[profiles.default.fields]
marketo_owned = ["leadScore"]
fill_only = ["leadSource"]

[profiles.default.writeback.events]
"Email Bounced Soft" = false
"""


def _checks(result) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(result.stdout)}


def _write_config(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_all_green_on_a_good_profile(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    _write_config(isolated_home, GOOD_PROFILE)
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "All checks passed." in result.stdout
    assert "FAIL" not in result.stdout
    checks = _checks(invoke("doctor", "--json"))
    assert checks["setting user_id_field"]["detail"] == "segmentUserId (profile 'default')"
    assert checks["setting marketo_endpoint"]["detail"].endswith("(env SEGMARKETO_MARKETO_ENDPOINT)")
    assert checks["secret marketo_client_secret"]["detail"].startswith("Marketo client secret from env")
    assert checks["mapping"] == {"name": "mapping", "status": "ok",
                                 "detail": "2 target(s) exist and are writable"}
    assert checks["fields"]["status"] == "ok"
    assert checks["lookup_field"]["status"] == "ok"
    assert checks["activity types"]["detail"] == "all 5 write-back activity types exist"
    assert checks["segment write key"]["status"] == "warn"
    assert "answers 200" in checks["segment write key"]["detail"]
    assert checks["segment audiences"]["status"] == "warn"
    usage = checks["api usage"]
    assert usage["status"] == "ok"
    assert "of 20,000 (daily_budget)" in usage["detail"]
    assert SANDBOX_CLIENT_SECRET not in result.output
    assert SANDBOX_WRITE_KEY not in result.output


def test_a_mapping_target_that_does_not_exist_fails(invoke, sandbox, isolated_home):
    _write_config(isolated_home, '[profiles.default.mapping]\nplan = "planTier"\nfirstName = "firstName"\n')
    result = invoke("doctor")
    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if "mapping:" in line)
    assert line.startswith("FAIL")
    assert "'plan' -> 'planTier' is not a Marketo lead field" in line
    assert "1 check(s) failed" in result.stdout


def test_a_read_only_target_and_an_unsearchable_lookup_field_fail(invoke, sandbox, isolated_home):
    sandbox.marketo.add_field("crmScore", "integer", read_only=True)
    _write_config(isolated_home, '[profiles.default]\nlookup_field = "city"\n'
                                 '[profiles.default.mapping]\nscore = "crmScore"\n')
    checks = _checks(invoke("doctor", "--json"))
    assert checks["mapping"]["status"] == "fail"
    assert "read-only" in checks["mapping"]["detail"]
    assert checks["lookup_field"]["status"] == "fail"
    assert "not searchable" in checks["lookup_field"]["detail"]


def test_missing_secret_fails_and_skips_the_marketo_checks(invoke, sandbox, monkeypatch):
    monkeypatch.delenv("SEGMARKETO_MARKETO_CLIENT_SECRET")
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    checks = _checks(result)
    assert checks["secret marketo_client_secret"]["status"] == "fail"
    assert "SEGMARKETO_MARKETO_CLIENT_SECRET" in checks["secret marketo_client_secret"]["detail"]
    assert checks["marketo token"]["status"] == "skip"
    assert checks["describe"]["status"] == "skip"


def test_bad_secret_fails_on_the_token_line_without_showing_it(invoke, sandbox, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MARKETO_CLIENT_SECRET", "wrong-secret-value-42")
    result = invoke("doctor")
    assert result.exit_code == 1
    token_line = next(line for line in result.stdout.splitlines() if "marketo token:" in line)
    assert token_line.startswith("FAIL")
    assert "refused" in token_line
    assert "wrong-secret-value-42" not in result.output
    assert "skip  describe: needs a Marketo token" in result.stdout


def test_a_missing_endpoint_and_an_unknown_activity_type_fail(invoke, sandbox, isolated_home, monkeypatch):
    _write_config(isolated_home, '[profiles.default.writeback.events]\n"Watch Hologram" = "Hologram Watched"\n')
    checks = _checks(invoke("doctor", "--json"))
    assert checks["activity types"]["status"] == "fail"
    assert "Watch Hologram" in checks["activity types"]["detail"]
    monkeypatch.delenv("SEGMARKETO_MARKETO_ENDPOINT")
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    assert _checks(result)["setting marketo_endpoint"]["status"] == "fail"


def test_quota_nearly_spent_warns_and_spent_fails(invoke, sandbox):
    sandbox.limits.set_used_today(45_000)
    assert _checks(invoke("doctor", "--json"))["api usage"]["status"] == "warn"
    sandbox.limits.set_used_today(50_000)
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    assert _checks(result)["api usage"]["status"] in ("fail",)


def test_a_broken_config_file_is_one_failing_line(invoke, isolated_home):
    _write_config(isolated_home, "[profiles.default\n")
    result = invoke("doctor")
    assert result.exit_code == 1
    assert "FAIL  config file:" in result.stdout
    assert "not valid TOML" in result.stdout
    assert "Traceback" not in result.output


def test_lead_partitions_are_listed_and_the_configured_one_checked(invoke, sandbox, monkeypatch):
    sandbox.marketo.add_partition("EMEA")
    unset = _checks(invoke("doctor", "--json"))["lead partitions"]
    assert unset["status"] == "ok"
    assert unset["detail"].startswith("Default, EMEA; new leads go to Marketo's default partition")
    monkeypatch.setenv("SEGMARKETO_PARTITION", "EMEA")
    assert _checks(invoke("doctor", "--json"))["lead partitions"]["status"] == "ok"
    monkeypatch.setenv("SEGMARKETO_PARTITION", "APAC")
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    wrong = _checks(result)["lead partitions"]
    assert wrong == {"name": "lead partitions", "status": "fail",
                     "detail": "partition 'APAC' (env SEGMARKETO_PARTITION) is not on this instance; "
                               "valid names: Default, EMEA"}
    assert _checks(result)["setting partition"]["detail"] == "APAC (env SEGMARKETO_PARTITION)"


def test_bulk_row_field_must_be_a_writable_scratch_field(invoke, sandbox, isolated_home):
    sandbox.marketo.add_field("segmarketoImportRow", "string", 255)
    _write_config(isolated_home, '[profiles.default]\nbulk_row_field = "segmarketoImportRow"\n')
    assert _checks(invoke("doctor", "--json"))["bulk_row_field"]["status"] == "ok"
    _write_config(isolated_home, '[profiles.default]\nbulk_row_field = "leadScore"\n'
                                 '[profiles.default.mapping]\nscore = "leadScore"\n')
    check = _checks(invoke("doctor", "--json"))["bulk_row_field"]
    assert check["status"] == "fail"
    assert "mapping target" in check["detail"]
