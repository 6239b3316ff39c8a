"""Settings resolution: precedence, endpoint normalisation, http refusal, clear errors naming file and key."""

from __future__ import annotations

import pytest

from segmarketo_cli import paths
from segmarketo_cli.config import load_settings, normalize_segment_endpoint
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.errors import ConfigError


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
    assert settings.table("mapping") == {"plan": "productPlan"}
    assert settings.table("fields") == {}
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
