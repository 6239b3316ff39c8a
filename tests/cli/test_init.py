"""`segmarketo init` writes a readable, commented profile and never secrets."""

from __future__ import annotations

import stat

import pytest

from segmarketo_cli.config import FieldsSection, load_settings
from segmarketo_cli.tomlfiles import tomllib

ENDPOINT = "https://123-ABC-456.mktorest.com"


def test_init_writes_profile_that_loads(invoke, isolated_home):
    result = invoke("init", "--endpoint", "https://123-ABC-456.mktorest.com/rest", "--client-id", "cid")
    assert result.exit_code == 0, result.output
    path = isolated_home / "config.toml"
    text = path.read_text()
    assert "secret" not in tomllib.loads(text)["profiles"]["default"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = load_settings()
    assert settings.marketo_endpoint == "https://123-ABC-456.mktorest.com"
    assert settings.marketo_client_id == "cid"
    assert settings.sections.fields == FieldsSection()


def test_init_refuses_overwrite_without_force(invoke, isolated_home):
    assert invoke("init", "--endpoint", ENDPOINT).exit_code == 0
    again = invoke("init", "--endpoint", ENDPOINT)
    assert again.exit_code == 2
    assert "exists already" in again.stderr
    assert "--force" in again.stderr
    assert "Traceback" not in again.output


def test_init_force_replaces_only_that_profile(invoke, isolated_home):
    assert invoke("--profile", "prod", "init", "--endpoint", ENDPOINT, "--client-id", "prod-id").exit_code == 0
    assert invoke("init", "--endpoint", ENDPOINT, "--client-id", "one").exit_code == 0
    assert invoke("init", "--endpoint", ENDPOINT, "--client-id", "two", "--force").exit_code == 0
    document = tomllib.loads((isolated_home / "config.toml").read_text())
    assert document["profiles"]["prod"]["marketo_client_id"] == "prod-id"
    assert document["profiles"]["default"]["marketo_client_id"] == "two"
    assert (isolated_home / "config.toml").read_text().count(">>> profile default") == 1


def test_init_without_endpoint_and_without_a_terminal_is_a_usage_error(invoke, isolated_home):
    result = invoke("init", "--client-id", "cid")
    assert result.exit_code == 2
    assert "init needs the Marketo REST endpoint: pass --endpoint URL" in result.stderr
    assert not (isolated_home / "config.toml").exists()


def test_init_asks_for_the_endpoint_on_a_terminal(invoke, isolated_home, monkeypatch):
    monkeypatch.setattr("segmarketo_cli.cli.init._stdin_is_tty", lambda: True)
    result = invoke("init", "--client-id", "cid", input="https://123-ABC-456.mktorest.com/rest/v1/\n")
    assert result.exit_code == 0, result.output
    assert "Marketo REST endpoint" in result.stderr
    assert load_settings().marketo_endpoint == ENDPOINT


@pytest.mark.parametrize("suffix", ["", "/", "/rest", "/rest/", "/rest/v1", "/rest/v1/", "/identity", "/identity/"])
def test_init_writes_the_endpoint_without_api_paths(invoke, isolated_home, suffix):
    result = invoke("init", "--endpoint", ENDPOINT + suffix)
    assert result.exit_code == 0, result.output
    written = tomllib.loads((isolated_home / "config.toml").read_text())["profiles"]["default"]
    assert written["marketo_endpoint"] == ENDPOINT


@pytest.mark.parametrize("suffix", ["/rest/v1", "/rest/v1/", "/identity/"])
def test_api_paths_are_stripped_from_the_config_and_the_environment(invoke, isolated_home, monkeypatch, suffix):
    (isolated_home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(f'[profiles.default]\nmarketo_endpoint = "{ENDPOINT}{suffix}"\n')
    assert load_settings().marketo_endpoint == ENDPOINT
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", ENDPOINT + suffix)
    assert load_settings().marketo_endpoint == ENDPOINT
