"""Settings resolution: precedence, endpoint normalisation, http refusal, clear errors naming file and key."""

from __future__ import annotations

import pytest

from segmarketo_cli import paths
from segmarketo_cli.config import (
    FieldsSection,
    Settings,
    WritebackSection,
    environment_settings,
    load_settings,
    normalize_segment_endpoint,
)
from segmarketo_cli.config.template import render_profile
from segmarketo_cli.endpoints import munchkin_id, normalize_endpoint
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.tomlfiles import tomllib


def write_config(text: str):
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_config_file():
    settings = load_settings()
    assert settings.profile == "default"
    assert settings.marketo_endpoint is None
    assert settings.segment_endpoint == "https://api.segment.io"
    assert (settings.rate_limit_calls, settings.rate_limit_window_s, settings.max_concurrency) == (90, 20.0, 5)
    assert set(settings.sources.values()) == {"default"}


def test_precedence_flag_over_env_over_profile_over_default(monkeypatch):
    write_config('[profiles.default]\nmax_concurrency = 3\nrate_limit_calls = 50\nlookup_field = "id"\n')
    monkeypatch.setenv("SEGMARKETO_RATE_LIMIT_CALLS", "60")
    monkeypatch.setenv("SEGMARKETO_LOOKUP_FIELD", "segmentId")
    settings = load_settings(overrides={"lookup_field": "email", "max_retries": None})
    assert settings.lookup_field == "email"
    assert settings.sources["lookup_field"] == "flag"
    assert settings.rate_limit_calls == 60
    assert settings.sources["rate_limit_calls"] == "env"
    assert settings.max_concurrency == 3
    assert settings.sources["max_concurrency"] == "profile"
    assert settings.max_retries == 6
    assert settings.sources["max_retries"] == "default"


def test_profile_from_argument_then_environment(monkeypatch):
    write_config('[profiles.default]\nlookup_field = "email"\n[profiles.prod]\nlookup_field = "prodKey"\n'
                 '[profiles.prod.mapping]\nplan = "productPlan"\n')
    monkeypatch.setenv("SEGMARKETO_PROFILE", "prod")
    settings = load_settings()
    assert settings.profile == "prod"
    assert settings.lookup_field == "prodKey"
    assert dict(settings.sections.mapping.targets) == {"plan": "productPlan"}
    assert settings.sections.fields == FieldsSection()
    assert load_settings("default").lookup_field == "email"


def test_unknown_profile_lists_known_ones():
    path = write_config("[profiles.default]\n[profiles.staging]\n")
    with pytest.raises(ConfigError) as info:
        load_settings("prod")
    assert str(info.value) == f"{path}: profile 'prod' not found (profiles: default, staging)"


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://123-ABC-456.mktorest.com", "https://123-ABC-456.mktorest.com"),
    ("https://123-ABC-456.mktorest.com/", "https://123-ABC-456.mktorest.com"),
    ("https://123-ABC-456.mktorest.com/rest", "https://123-ABC-456.mktorest.com"),
    ("https://123-ABC-456.mktorest.com/rest/", "https://123-ABC-456.mktorest.com"),
    (" https://123-ABC-456.mktorest.com/identity ", "https://123-ABC-456.mktorest.com"),
    ("http://127.0.0.1:8080/rest", "http://127.0.0.1:8080"),
    ("http://localhost:9", "http://localhost:9"),
    ("http://[::1]:9", "http://[::1]:9"),
])
def test_endpoint_normalisation(raw, expected):
    assert normalize_endpoint(raw) == expected


@pytest.mark.parametrize("raw", ["http://123-ABC-456.mktorest.com", "http://10.0.0.5", "ftp://x.example", "nohost"])
def test_plain_http_and_non_urls_are_refused(raw):
    with pytest.raises(ConfigError):
        normalize_endpoint(raw)


def test_endpoint_from_env_is_normalised_and_http_refusal_names_the_variable(monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", "https://123-ABC-456.mktorest.com/rest/")
    assert load_settings().marketo_endpoint == "https://123-ABC-456.mktorest.com"
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", "http://123-ABC-456.mktorest.com")
    with pytest.raises(ConfigError, match="environment variable SEGMARKETO_MARKETO_ENDPOINT.*plain http"):
        load_settings()


@pytest.mark.parametrize(("value", "expected"), [
    ("us", "https://api.segment.io"),
    ("EU", "https://events.eu1.segmentapis.com"),
    ("https://events.eu1.segmentapis.com/v1/batch", "https://events.eu1.segmentapis.com"),
    ("http://127.0.0.1:5555/", "http://127.0.0.1:5555"),
])
def test_segment_region_names_and_urls(monkeypatch, value, expected):
    monkeypatch.setenv("SEGMARKETO_SEGMENT_ENDPOINT", value)
    assert load_settings().segment_endpoint == expected


def test_segment_region_in_profile():
    write_config('[profiles.default]\nsegment_endpoint = "eu"\n')
    assert load_settings().segment_endpoint == "https://events.eu1.segmentapis.com"


def test_bad_toml_names_the_file():
    path = write_config("[profiles.default\nmax_concurrency = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(f"{path}: not valid TOML")


@pytest.mark.parametrize(("line", "message"), [
    ('max_concurrency = "many"', "'max_concurrency' expects a whole number, got 'many'"),
    ("max_concurrency = true", "'max_concurrency' expects a whole number, got True"),
    ("rate_limit_calls = 2.5", "'rate_limit_calls' expects a whole number, got 2.5"),
    ('rate_limit_window_s = "soon"', "'rate_limit_window_s' expects a number, got 'soon'"),
    ("lookup_field = [1, 2]", "'lookup_field' expects a string, got [1, 2]"),
    ("marketo_endpoint = {a = 1}", "'marketo_endpoint' expects a string, got {'a': 1}"),
    ("lookup_field = true", "'lookup_field' expects a string, got True"),
    ('marketo_endpoint = "ftp://x.example"', "Marketo endpoint 'ftp://x.example' is not an http(s) URL"),
    ("max_concurrency = 11", "'max_concurrency' must be between 1 and 10"),
    ("rate_limit_calls = 0", "'rate_limit_calls' must be between 1 and 100"),
    ("daily_budget = 0", "'daily_budget' must be a positive number of calls"),
    ("max_retries = -1", "'max_retries' must be between 0 and 50"),
])
def test_wrong_types_name_the_file_and_key(line, message):
    path = write_config(f"[profiles.default]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(f"{path} [profiles.default]: ")
    assert message in str(info.value)


def test_wrong_type_in_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MAX_CONCURRENCY", "lots")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == "environment variable SEGMARKETO_MAX_CONCURRENCY: 'max_concurrency' expects a " \
                              "whole number, got 'lots'"
    monkeypatch.setenv("SEGMARKETO_MAX_CONCURRENCY", "20")
    with pytest.raises(ConfigError, match="^environment variable SEGMARKETO_MAX_CONCURRENCY: 'max_concurrency' must"):
        load_settings()


def test_profiles_must_be_tables():
    path = write_config('profiles = "oops"\n')
    with pytest.raises(ConfigError, match=f"^{path}: 'profiles' must be a table"):
        load_settings()
    write_config('[profiles]\ndefault = 3\n')
    with pytest.raises(ConfigError, match=r"\[profiles.default\] must be a table"):
        load_settings()


def test_require_marketo_names_the_variable_and_file():
    settings = load_settings()
    with pytest.raises(ConfigError, match="SEGMARKETO_MARKETO_ENDPOINT"):
        settings.require_marketo()


def test_table_must_be_a_table():
    write_config("[profiles.default]\nmapping = [1]\n")
    with pytest.raises(ConfigError, match=r"'mapping' must be a \[profiles.default.mapping\] table, got \[1\]"):
        load_settings()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mapping = 5", "'mapping' must be a [profiles.default.mapping] table, got 5"),
        ("writeback = 3", "'writeback' must be a [profiles.default.writeback] table, got 3"),
        ('rules = "x"', "'rules' must be [[profiles.default.rules]] tables, got 'x'"),
    ],
)
def test_profile_sub_tables_of_the_wrong_shape_are_config_errors(isolated_home, line, expected):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(f"[profiles.default]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert expected in str(info.value)
    assert "config.toml" in str(info.value)


@pytest.mark.parametrize(("value", "shown"), [
    ("https://ops:hunter2@123-ABC-456.mktorest.com", "'https://***@123-ABC-456.mktorest.com'"),
    ("https://123-ABC-456.mktorest.com/?token=hunter2", "'https://123-ABC-456.mktorest.com/?***'"),
    ("https://123-ABC-456.mktorest.com#hunter2", "'https://123-ABC-456.mktorest.com?***'"),
])
def test_endpoint_with_credentials_query_or_fragment_is_refused_without_showing_them(monkeypatch, value, shown):
    # a password in the URL would travel (and be printed) with every call; a query would land mid-path
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert shown in str(info.value)
    assert "must not hold a user name, password, query or fragment" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_wrong_segment_region_suggests_segment_values():
    with pytest.raises(ConfigError) as info:
        normalize_segment_endpoint("mars")
    assert "'us', 'eu'" in str(info.value)
    assert "mktorest" not in str(info.value)


# ---- typed sections: each sub-table checked once at load, its error raised where the section is read --------------

SECTIONS_TOML = """\
[profiles.default]
[profiles.default.mapping]
plan = " productPlan "
company.size = "numberOfEmployees"
[profiles.default.fields]
marketo_owned = ["leadScore"]
fill_only = ["title"]
[profiles.default.writeback]
marketo_extras = true
identity = "user-id-only"
bulk_after_days = 3
[profiles.default.writeback.events]
"Send Email" = false
"Open Email" = "Marketo Email Opened"
"Fill Out Form" = true
[profiles.default.writeback.integrations]
All = false
"Google Analytics 4" = true
[[profiles.default.rules]]
name = "pro"
event = "Signed Up"
action = "score"
field = "productScore"
points = 10
"""


def test_sections_hold_the_profile_tables_typed():
    write_config(SECTIONS_TOML)
    sections = load_settings().sections
    assert dict(sections.mapping.targets) == {"plan": "productPlan", "company.size": "numberOfEmployees"}
    assert sections.fields == FieldsSection(marketo_owned=("leadScore",), fill_only=("title",))
    writeback = sections.writeback
    assert dict(writeback.events) == {"Send Email": False, "Open Email": "Marketo Email Opened", "Fill Out Form": True}
    assert writeback.marketo_extras is True
    assert writeback.integrations is not None
    assert dict(writeback.integrations) == {"All": False, "Google Analytics 4": True}
    assert writeback.identity == "user-id-only"
    assert writeback.bulk_after_days == 3.0
    assert sections.rules is not None
    assert [rule["name"] for rule in sections.rules.tables] == ["pro"]


def test_sections_of_a_profile_without_sub_tables_are_empty():
    sections = load_settings().sections
    assert dict(sections.mapping.targets) == {}
    assert sections.fields == FieldsSection()
    assert sections.writeback == WritebackSection()
    assert sections.rules is None


@pytest.mark.parametrize(("table", "body", "key", "message"), [
    ("mapping", "plan = 3", "'plan'", "must name a Marketo field (a string), got 3"),
    ("mapping", 'address.city = " "', "'address.city'", "must name a Marketo field"),
    ("fields", "owned = []", "owned", "unknown key(s) owned (known: marketo_owned, fill_only, newer_only)"),
    ("fields", 'marketo_owned = "leadScore"', "'marketo_owned'", "must be a list of Marketo field names"),
    ("fields", 'marketo_owned = ["title"]\nfill_only = ["title"]', "'title'", "is in both 'marketo_owned' and"),
    ("fields", 'newer_only = ["email"]', "'email'", "the lookup field 'email' cannot be in 'newer_only'"),
    ("writeback", "colour = 1", "colour", ": unknown key(s) colour (known: bulk_after_days, events,"),
    ("writeback", 'events = ["Send Email"]', "writeback.events", "must be a table of \"Activity Type\""),
    ("writeback.events", '"Send Email" = 3', "'Send Email'", "must be an event name (string) or false, got 3"),
    ("writeback", 'marketo_extras = "yes"', "marketo_extras", "must be true or false, got 'yes'"),
    ("writeback", "integrations = 5", "writeback.integrations", "must be a table of \"Destination Name\""),
    ("writeback.integrations", 'All = "no"', "'All'", "must be true or false, got 'no'"),
    ("writeback", 'identity = "email"', "identity", "identity mode 'email' is not one of auto, user-id-only"),
    ("writeback", "bulk_after_days = 0", "bulk_after_days", "must be a positive number of days, got 0"),
    ("writeback", "bulk_after_days = true", "bulk_after_days", "must be a positive number of days, got True"),
    ("rules", "", "rule 2", "must be a table of keys ([[rule]])"),
])
def test_a_bad_value_in_a_section_is_one_error_naming_file_profile_and_key(table, body, key, message):
    text = f"[profiles.default]\n[profiles.default.{table}]\n{body}\n"
    if table == "rules":
        text = '[profiles.default]\nrules = [{ name = "a" }, 3]\n'
    path = write_config(text)
    settings = load_settings()  # the other sections, and commands that read none, still work
    section = table.split(".")[0]
    with pytest.raises(ConfigError) as info:
        getattr(settings.sections, section)
    error = str(info.value)
    assert error.startswith(f"{path} [profiles.default.{section}")
    assert key in error
    assert message in error
    for other in {"mapping", "fields", "writeback", "rules"} - {section}:
        getattr(settings.sections, other)


def test_a_broken_section_leaves_the_others_readable():
    write_config('[profiles.default.mapping]\nplan = 3\n[profiles.default.writeback]\nidentity = "auto"\n')
    sections = load_settings().sections
    assert sections.writeback.identity == "auto"
    assert sections.fields == FieldsSection()
    with pytest.raises(ConfigError, match="mapping 'plan' must name a Marketo field"):
        sections.mapping  # noqa: B018 - reading the section is what raises


def test_the_lookup_field_from_a_flag_is_checked_against_the_fields_lists():
    path = write_config('[profiles.default.fields]\nmarketo_owned = ["segmentId"]\n')
    assert load_settings().sections.fields.marketo_owned == ("segmentId",)
    settings = load_settings(overrides={"lookup_field": "segmentId"})
    with pytest.raises(ConfigError) as info:
        settings.sections.fields  # noqa: B018 - reading the section is what raises
    assert str(info.value) == (f"{path} [profiles.default.fields]: the lookup field 'segmentId' cannot be in "
                               "'marketo_owned'")


# ---- one source of defaults: what `init` writes is what the settings default to --------------------------------------

def test_the_profile_init_writes_holds_the_built_in_defaults():
    written = tomllib.loads(render_profile("default"))["profiles"]["default"]
    defaults = Settings()
    for name, _env, default in environment_settings():
        if name in written and name not in ("marketo_endpoint", "marketo_client_id", "segment_endpoint"):
            assert written[name] == default == getattr(defaults, name), name
    assert {"rate_limit_calls", "rate_limit_window_s", "max_concurrency", "lookup_field"} <= set(written)
    assert written["fields"] == {"marketo_owned": [], "fill_only": [], "newer_only": []}
    write_config(render_profile("default"))
    loaded = load_settings()
    assert loaded.sections.fields == FieldsSection()
    assert loaded.sections.writeback == WritebackSection()
    assert loaded.segment_endpoint == defaults.segment_endpoint


def test_every_setting_is_read_from_its_environment_variable(monkeypatch):
    for name, env, _default in environment_settings():
        assert env == f"SEGMARKETO_{name.upper()}"
    monkeypatch.setenv("SEGMARKETO_HTTP_TIMEOUT_S", "30")
    settings = load_settings()
    assert settings.http_timeout_s == 30.0
    assert settings.sources["http_timeout_s"] == "env"


def test_munchkin_id_from_host_and_fallback_hash():
    assert munchkin_id("https://123-abc-456.mktorest.com") == "123-ABC-456"
    assert munchkin_id("https://123-ABC-456.mktorest.com/rest") == "123-ABC-456"
    fallback = munchkin_id("http://127.0.0.1:8080")
    assert len(fallback) == 10
    assert fallback == munchkin_id("http://127.0.0.1:9999")  # the port is not part of the instance's id
    assert fallback != munchkin_id("https://proxy.example.com")
