"""`segmarketo listen --check` and the [listen] table: one clear line and exit 2 for what is wrong."""

from __future__ import annotations

import pytest

from tests.listen.receiver import SHARED_SECRET, write_profile
from tests.support.sandbox_env import point_cli_at


@pytest.fixture
def pointed(monkeypatch, isolated_home):
    point_cli_at(monkeypatch, "http://127.0.0.1:9", isolated_home)
    return monkeypatch


def test_check_says_what_it_would_do_and_exits_0(invoke, pointed, isolated_home):
    write_profile(isolated_home, flush_seconds=5, flush_events=300)
    result = invoke("listen", "--check", "--port", "9000", env={"SEGMARKETO_LISTEN_SHARED_SECRET": SHARED_SECRET})
    assert result.exit_code == 0
    assert "127.0.0.1:9000" in result.stdout
    assert "flush every 5 s or 300 events" in result.stdout
    assert "1 audience(s) mapped" in result.stdout
    assert SHARED_SECRET not in result.output


def test_check_without_a_secret_exits_2(invoke, pointed, isolated_home):
    write_profile(isolated_home)
    result = invoke("listen", "--check")
    assert result.exit_code == 2
    assert "SEGMARKETO_LISTEN_SHARED_SECRET" in result.output
    assert "Traceback" not in result.output


def test_a_listen_secret_in_the_keyring_is_used(invoke, pointed, isolated_home, memory_keyring):
    write_profile(isolated_home)
    memory_keyring.set_password("segmarketo", "default:listen_token", "from-keyring")
    result = invoke("listen", "--check")
    assert result.exit_code == 0
    assert "bearer token auth" in result.stdout


@pytest.mark.parametrize(("table", "says"), [
    ("flush_secs = 3", "unknown key(s) flush_secs"),
    ("flush_events = 0", "flush_events must be positive"),
    ("max_body_bytes = \"lots\"", "'lots' is not a size"),
    ("port = 70000", "port must be 0-65535"),
    ("audiences = 5", "must be a table of audience_key"),
])
def test_a_broken_listen_table_exits_2_naming_the_key(invoke, pointed, isolated_home, table, says):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(f"[profiles.default.listen]\n{table}\n")
    result = invoke("listen", "--check", env={"SEGMARKETO_LISTEN_SHARED_SECRET": SHARED_SECRET})
    assert result.exit_code == 2
    assert says in result.output
    assert "[profiles.default.listen" in result.output


def test_sizes_may_be_written_as_text(invoke, pointed, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[profiles.default.listen]\nmax_spool_bytes = "2GB"\n')
    result = invoke("listen", "--check", env={"SEGMARKETO_LISTEN_TOKEN": "t"})
    assert result.exit_code == 0
