"""`segmarketo auth set|status|clear` against the in-memory keyring and keyring's fail backend."""

from __future__ import annotations

import json

import keyring
import pytest
from keyring.backends import fail

MARKETO = ("segmarketo", "default:marketo_client_secret")
SEGMENT = ("segmarketo", "default:segment_write_key")


@pytest.fixture
def no_keyring():
    keyring.set_keyring(fail.Keyring())  # the autouse fixture restores the previous backend


def test_set_prompts_hidden_and_stores_both(invoke, memory_keyring):
    result = invoke("auth", "set", input="mkto-secret-value\nseg-write-key-value\n")
    assert result.exit_code == 0, result.output
    assert memory_keyring.values[MARKETO] == "mkto-secret-value"
    assert memory_keyring.values[SEGMENT] == "seg-write-key-value"
    assert "mkto-secret-value" not in result.output
    assert "seg-write-key-value" not in result.output
    assert "stored Marketo client secret for profile 'default'" in result.stderr


def test_set_skips_empty_answers(invoke, memory_keyring):
    result = invoke("auth", "set", input="\nseg-write-key-value\n")
    assert result.exit_code == 0
    assert MARKETO not in memory_keyring.values
    assert memory_keyring.values[SEGMENT] == "seg-write-key-value"
    assert "skipped Marketo client secret" in result.stderr


def test_set_only_segment_asks_one_question(invoke, memory_keyring):
    result = invoke("auth", "set", "--only", "segment", input="only-key-1234\n")
    assert result.exit_code == 0
    assert memory_keyring.values == {SEGMENT: "only-key-1234"}
    assert "Marketo" not in result.output


def test_set_from_env_copies_into_keyring(invoke, memory_keyring, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MARKETO_CLIENT_SECRET", "env-secret-9876")
    result = invoke("--profile", "prod", "auth", "set", "--from-env")
    assert result.exit_code == 0, result.output
    assert memory_keyring.values == {("segmarketo", "prod:marketo_client_secret"): "env-secret-9876"}
    assert "skipped Segment write key: SEGMARKETO_SEGMENT_WRITE_KEY is not set" in result.stderr


def test_set_from_env_with_nothing_set_is_a_usage_error(invoke, memory_keyring):
    result = invoke("auth", "set", "--from-env")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("segmarketo: error: nothing to copy")
    assert memory_keyring.values == {}


def test_status_reports_sources_never_values(invoke, memory_keyring, monkeypatch):
    memory_keyring.values[MARKETO] = "kr-secret-5555"
    monkeypatch.setenv("SEGMARKETO_SEGMENT_WRITE_KEY", "env-key-4444")
    result = invoke("auth", "status")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "keyring backend: tests.conftest.MemoryKeyring" in lines
    assert any(line.startswith("Marketo client secret") and " keyring " in line for line in lines)
    assert any(line.startswith("Segment write key") and "env" in line and "SEGMARKETO_SEGMENT_WRITE_KEY" in line
               for line in lines)
    assert "kr-secret-5555" not in result.output
    assert "env-key-4444" not in result.output


def test_status_json(invoke, memory_keyring):
    memory_keyring.values[SEGMENT] = "kr-key-7777"
    result = invoke("auth", "status", "--json")
    data = json.loads(result.stdout)
    assert data["profile"] == "default"
    assert data["keyring_available"] is True
    assert {s["name"]: s["source"] for s in data["secrets"]} == {
        "marketo_client_secret": "missing", "segment_write_key": "keyring"}
    assert "kr-key-7777" not in result.stdout


def test_clear_removes_only_the_chosen_secret(invoke, memory_keyring):
    memory_keyring.values[MARKETO] = "a-secret-1"
    memory_keyring.values[SEGMENT] = "a-key-2"
    result = invoke("auth", "clear", "--only", "marketo")
    assert result.exit_code == 0
    assert memory_keyring.values == {SEGMENT: "a-key-2"}
    again = invoke("auth", "clear")
    assert again.exit_code == 0
    assert memory_keyring.values == {}
    assert "not in the keyring: Marketo client secret" in again.stderr


def test_no_keyring_backend_points_to_environment(invoke, no_keyring):
    for args in (("auth", "set"), ("auth", "clear"), ("auth", "set", "--from-env")):
        result = invoke(*args, input="x\ny\n")
        assert result.exit_code == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert "no working keyring backend" in lines[0]
        assert "SEGMARKETO_MARKETO_CLIENT_SECRET" in lines[0]
        assert "SEGMARKETO_SEGMENT_WRITE_KEY" in lines[0]


def test_status_without_keyring_still_works(invoke, no_keyring, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MARKETO_CLIENT_SECRET", "env-secret-1212")
    result = invoke("auth", "status", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["keyring_available"] is False
    assert data["keyring_backend"] == "keyring.backends.fail.Keyring"
    assert [s["source"] for s in data["secrets"]] == ["env", "missing"]
