"""secrets.py: env wins over keyring, per-profile keyring entries, status without values, no-backend errors."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail

from segmarketo_cli import secrets
from segmarketo_cli.errors import ConfigError, ExitCode


def test_keyring_entries_are_per_profile(memory_keyring):
    secrets.set_secret("prod", "segment_write_key", "prod-key-1111")
    secrets.set_secret("staging", "segment_write_key", "stage-key-2222")
    assert memory_keyring.values[("segmarketo", "prod:segment_write_key")] == "prod-key-1111"
    assert secrets.get_secret("prod", "segment_write_key") == "prod-key-1111"
    assert secrets.get_secret("staging", "segment_write_key") == "stage-key-2222"
    assert secrets.get_secret("default", "segment_write_key") is None


def test_environment_wins_over_keyring(monkeypatch):
    secrets.set_secret("default", "marketo_client_secret", "from-keyring-1")
    assert secrets.get_secret("default", "marketo_client_secret") == "from-keyring-1"
    monkeypatch.setenv("SEGMARKETO_MARKETO_CLIENT_SECRET", "from-env-2")
    assert secrets.get_secret("default", "marketo_client_secret") == "from-env-2"
    assert secrets.require_secret("default", "marketo_client_secret") == "from-env-2"


def test_status_names_sources_never_values(monkeypatch):
    secrets.set_secret("default", "marketo_client_secret", "kr-value-3")
    monkeypatch.setenv("SEGMARKETO_SEGMENT_WRITE_KEY", "env-value-4")
    statuses = {s.name: s for s in secrets.secret_status("default")}
    assert statuses["marketo_client_secret"].source == "keyring"
    assert statuses["marketo_client_secret"].detail == "service 'segmarketo', user 'default:marketo_client_secret'"
    assert statuses["segment_write_key"].source == "env"
    assert statuses["segment_write_key"].detail == "SEGMARKETO_SEGMENT_WRITE_KEY"
    assert "kr-value-3" not in repr(statuses)
    assert "env-value-4" not in repr(statuses)
    assert secrets.secret_status("other")[0].source == "missing"


def test_clear_reports_whether_something_was_removed():
    secrets.set_secret("default", "segment_write_key", "to-remove-5")
    assert secrets.clear_secret("default", "segment_write_key") is True
    assert secrets.clear_secret("default", "segment_write_key") is False
    assert secrets.get_secret("default", "segment_write_key") is None


def test_missing_secret_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError) as info:
        secrets.require_secret("default", "segment_write_key")
    assert info.value.exit_code == ExitCode.USAGE
    assert "SEGMARKETO_SEGMENT_WRITE_KEY" in str(info.value)
    assert "segmarketo auth set" in str(info.value)


def test_no_keyring_backend(monkeypatch):
    keyring.set_keyring(fail.Keyring())
    assert secrets.keyring_available() is False
    assert secrets.keyring_backend_name() == "keyring.backends.fail.Keyring"
    assert secrets.get_secret("default", "segment_write_key") is None  # reads degrade quietly
    with pytest.raises(secrets.KeyringUnavailable) as info:
        secrets.set_secret("default", "segment_write_key", "never-stored-6")
    message = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE
    assert "never-stored-6" not in message
    assert "SEGMARKETO_MARKETO_CLIENT_SECRET" in message
    assert "SEGMARKETO_SEGMENT_WRITE_KEY" in message
    assert info.value.__cause__ is None
    with pytest.raises(secrets.KeyringUnavailable):
        secrets.clear_secret("default", "segment_write_key")
    monkeypatch.setenv("SEGMARKETO_SEGMENT_WRITE_KEY", "env-works-7")
    assert secrets.get_secret("default", "segment_write_key") == "env-works-7"


def test_backend_errors_never_leak_the_value(memory_keyring, monkeypatch):
    def broken(service, username, password):
        raise RuntimeError(f"could not store {password}")

    monkeypatch.setattr(memory_keyring, "set_password", broken)
    with pytest.raises(secrets.KeyringUnavailable) as info:
        secrets.set_secret("default", "marketo_client_secret", "leaky-value-8")
    assert "leaky-value-8" not in str(info.value)
    assert info.value.__cause__ is None


def test_redact_removes_credentials_but_keeps_paging_tokens():
    from segmarketo_cli.http import redact, register_secret

    register_secret("registered-secret-value")
    text = redact("POST /identity/oauth/token?client_id=abc&client_secret=s3cr3t&token=t0k "
                  "Authorization: Bearer abc.def writeKey=wk1 "
                  '{"access_token": "tok-json", "writeKey": "wk-json"} echo registered-secret-value '
                  "GET /rest/v1/activities.json?nextPageToken=PAGE123")
    for secret in ("s3cr3t", "t0k", "abc.def", "wk1", "tok-json", "wk-json", "registered-secret-value"):
        assert secret not in text
    assert "client_id=abc" in text
    assert "nextPageToken=PAGE123" in text
    register_secret("abc")  # too short to be a real secret: would blank out ordinary text
    assert redact("abc") == "abc"
