"""The audience loaded into the engine: the file read again must be the file that was checked."""

from __future__ import annotations

import pytest

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.audience.readers import read_audience
from tests.sync_audience.engine_plan import loaded


def test_a_file_that_changed_after_its_check_stops_the_run(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("email\na@x.co\nb@x.co\n", encoding="utf-8")
    checked = read_audience(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("c@x.co\n")  # still being written when the run loads it
    with pytest.raises(InputError, match="changed while it was being read"):
        loaded(checked)


def test_a_file_read_twice_unchanged_loads_its_people_in_order(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("email\nB@x.co\na@x.co\n b@x.co\n", encoding="utf-8")
    result = loaded(read_audience(path))
    assert [p.key.value for p in result.people] == ["b@x.co", "a@x.co"]
    assert [p.origin for p in result.people] == [f"{path}:2", f"{path}:3"]
    assert result.repeated == 1
