"""`segmarketo init` writes a readable, commented profile and never secrets."""

from __future__ import annotations

import stat

from segmarketo_cli.config import FieldsSection, load_settings
from segmarketo_cli.tomlfiles import tomllib


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
    assert invoke("init").exit_code == 0
    again = invoke("init")
    assert again.exit_code == 2
    assert "exists already" in again.stderr
    assert "--force" in again.stderr
    assert "Traceback" not in again.output


def test_init_force_replaces_only_that_profile(invoke, isolated_home):
    assert invoke("--profile", "prod", "init", "--client-id", "prod-id").exit_code == 0
    assert invoke("init", "--client-id", "one").exit_code == 0
    assert invoke("init", "--client-id", "two", "--force").exit_code == 0
    document = tomllib.loads((isolated_home / "config.toml").read_text())
    assert document["profiles"]["prod"]["marketo_client_id"] == "prod-id"
    assert document["profiles"]["default"]["marketo_client_id"] == "two"
    assert (isolated_home / "config.toml").read_text().count(">>> profile default") == 1
