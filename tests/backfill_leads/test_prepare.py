"""backfill-leads refusals before the lock: one line on stderr, the usual exit code, no call, no run recorded."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.backfill_leads.test_cli import write_people
from tests.support.refusals import assert_refused

PROFILE_MAPPING_NOT_A_STRING = textwrap.dedent("""
    [profiles.default.mapping]
    email = 5
""")

# (what is wrong, config.toml text or None, mapping file text or None, extra args), exit code, what the line says
REFUSALS = [
    ("lookup field id by flag", (None, None, ("--lookup-field", "id")), 2,
     "--lookup-field id is update-only in Marketo; backfill-leads creates leads, use email or a searchable "
     "custom field"),
    ("lookup field id in the profile", ('[profiles.default]\nlookup_field = "id"\n', None, ()), 2,
     "--lookup-field id is update-only in Marketo"),
    ("profile mapping target not a string", (PROFILE_MAPPING_NOT_A_STRING, None, ()), 2,
     "[profiles.default.mapping]: mapping 'email' must name a Marketo field (a string), got 5"),
    ("mapping file not TOML", (None, "plan = \n", ()), 2, "m.toml: not valid TOML"),
    ("mapping file target not a string", (None, "plan = 5\n", ()), 2,
     "m.toml: mapping 'plan' must name a Marketo field (a string), got 5"),
]


@pytest.fixture
def runs(invoke):
    """The runs `segmarketo runs list` shows for the default profile."""
    return lambda: json.loads(invoke("runs", "list", "--json").stdout)


def refuse(invoke, tmp_path, isolated_home, setup):
    config, mapping, extra = setup
    if config is not None:
        isolated_home.mkdir(parents=True, exist_ok=True)
        (isolated_home / "config.toml").write_text(config)
    args = list(extra)
    if mapping is not None:
        (tmp_path / "m.toml").write_text(mapping)
        args += ["--mapping", str(tmp_path / "m.toml")]
    return invoke("backfill-leads", str(write_people(tmp_path / "in.jsonl", 3)), *args)


@pytest.mark.parametrize(("setup", "exit_code", "message"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_flag_and_profile_refusals_come_before_any_call(invoke, sandbox, runs, tmp_path, isolated_home, setup,
                                                       exit_code, message):
    assert_refused(refuse(invoke, tmp_path, isolated_home, setup), exit_code, message)
    assert sandbox.marketo.calls == 0
    assert sandbox.marketo.leads == []
    assert runs() == []


def test_a_missing_mapping_file_is_a_usage_error(invoke, sandbox, runs, tmp_path):
    missing = tmp_path / "none.toml"
    result = invoke("backfill-leads", str(write_people(tmp_path / "in.jsonl", 3)), "--mapping", str(missing))
    assert_refused(result, 2, f"{missing}: cannot be read")
    assert sandbox.marketo.calls == 0
    assert runs() == []


@pytest.mark.parametrize("bad", ["missing.jsonl", "fake.jsonl.gz"])
def test_an_unreadable_input_file_exits_1_before_any_call(invoke, sandbox, runs, tmp_path, bad):
    good = write_people(tmp_path / "good.jsonl", 3)
    if bad == "fake.jsonl.gz":
        (tmp_path / bad).write_text("this is not gzip")
    result = invoke("backfill-leads", str(good), str(tmp_path / bad))
    assert_refused(result, 1, bad)
    assert "Traceback" not in result.output
    assert sandbox.marketo.calls == 0
    assert sandbox.marketo.leads == []
    assert runs() == []


def test_the_profile_checks_refuse_even_a_dry_run(invoke, sandbox, runs, tmp_path, isolated_home):
    setup = (PROFILE_MAPPING_NOT_A_STRING, None, ("--dry-run",))
    assert_refused(refuse(invoke, tmp_path, isolated_home, setup), 2, "[profiles.default.mapping]")
    assert sandbox.marketo.calls == 0
    assert runs() == []


def test_doctor_reports_the_profile_mapping_like_the_command_and_checks_the_rest(invoke, sandbox, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(
        PROFILE_MAPPING_NOT_A_STRING + '[profiles.default.fields]\nfill_only = ["noSuchField"]\n')
    checks = {c["name"]: c for c in json.loads(invoke("doctor", "--json").stdout)}
    assert checks["mapping"] == {"name": "mapping", "status": "fail",
                                 "detail": f"{isolated_home / 'config.toml'} [profiles.default.mapping]: mapping "
                                           "'email' must name a Marketo field (a string), got 5"}
    assert checks["fields"] == {"name": "fields", "status": "fail",
                                "detail": "[profiles.default.fields]: 'fill_only' names 'noSuchField', which is not "
                                          "a Marketo lead field"}
    assert checks["lookup_field"]["status"] == "ok"
