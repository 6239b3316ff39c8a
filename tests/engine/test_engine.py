"""The planning engine: the memory_limit setting, the spill folder, and the same answer at any limit."""

from __future__ import annotations

import stat

import pytest

from segmarketo_cli import paths
from segmarketo_cli.engine import open_engine
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.sizes import human_size, parse_memory_limit


@pytest.mark.parametrize(("text", "size"), [("1GB", 10**9), ("512MB", 512 * 10**6), ("2GiB", 2 << 30),
                                            ("64mb", 64 * 10**6), (" 1.5 GB ", 15 * 10**8), ("800000000", 8 * 10**8)])
def test_sizes_are_read_in_decimal_and_binary_units(text, size):
    assert parse_memory_limit(text) == size


@pytest.mark.parametrize(("text", "why"), [("5XB", "is not a size"), ("lots", "is not a size"), ("", "is not a size"),
                                           ("1MB", "too small")])
def test_a_bad_or_tiny_size_is_a_config_error(text, why):
    with pytest.raises(ConfigError) as caught:
        parse_memory_limit(text, where="--memory-limit")
    assert caught.value.message.startswith("--memory-limit: ")
    assert why in caught.value.message


def test_human_sizes():
    assert human_size(10**9) == "1.0 GB"
    assert human_size(64 * 10**6) == "64 MB"


def test_a_tiny_limit_spills_and_gives_the_same_answer(tmp_path):
    query = ("SELECT count(DISTINCT s), min(s), max(s) "
             "FROM (SELECT md5(range::VARCHAR) s FROM range(2000000) ORDER BY s)")
    with open_engine("1GB", tmp_path, "roomy") as roomy:
        expected = roomy.con.execute(query).fetchall()
    with open_engine("64MB", tmp_path, "tight") as tight:
        tight.con.execute("CREATE TABLE t AS SELECT md5(range::VARCHAR) s FROM range(2000000)")
        assert tight.con.execute(query).fetchall() == expected
        assert tight.disk_bytes() > 10**7  # the table lives on disk, not in the 64 MB
        folder = tight.temp_dir
        assert folder == paths.engine_dir(tmp_path, "tight")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()


def test_a_killed_runs_leftovers_are_removed_when_the_next_run_opens(tmp_path):
    folder = paths.engine_dir(tmp_path, "p")
    folder.mkdir(parents=True)
    stale = folder / "duckdb_temp_storage-0.tmp"
    stale.write_bytes(b"x" * 100)
    with open_engine("64MB", tmp_path, "p"):
        assert not stale.exists()


def test_the_flag_is_checked_before_anything_is_read(invoke):
    result = invoke("backfill-leads", "missing.jsonl", "--memory-limit", "5XB")
    assert result.exit_code == 2
    assert "--memory-limit: '5XB' is not a size" in result.stderr


def test_a_bad_profile_value_names_the_file(invoke, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[profiles.default]\nmemory_limit = "big"\n')
    (isolated_home / "config.toml").chmod(0o600)
    result = invoke("backfill-leads", "missing.jsonl")
    assert result.exit_code == 2
    assert "[profiles.default]: 'memory_limit': 'big' is not a size" in result.stderr


def test_doctor_reports_the_limit_and_the_spill_folder(invoke, monkeypatch, isolated_home):
    monkeypatch.setenv("SEGMARKETO_MEMORY_LIMIT", "2GB")
    result = invoke("doctor")
    line = next(line for line in result.stdout.splitlines() if "planning engine" in line)
    assert "memory limit 2.0 GB (env SEGMARKETO_MEMORY_LIMIT)" in line
    assert str(paths.engine_dir(isolated_home / "state", "default")) in line
    assert "free there" in line


@pytest.mark.parametrize("limit, share, held", [("1GB", 0.5, 500_000_000), ("48MB", 0.5, 32 << 20),
                                                ("32MiB", 0.25, 32 << 20)])
def test_hold_to_gives_duckdb_a_share_of_the_limit_never_below_the_minimum(tmp_path, limit, share, held):
    with open_engine(limit, tmp_path / "state", "default") as engine:
        engine.hold_to(share)
        ((setting,),) = engine.con.execute(
            "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()
        ((expected,),) = engine.con.execute(f"SELECT format_bytes({held})").fetchall()
    assert setting == expected
