"""--plan-out files: one writer, four formats chosen by extension, private, streamed, text-only spreadsheets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from segmarketo_cli.errors import ConfigError, OutputError
from segmarketo_cli.jobs import plan_file
from segmarketo_cli.jobs.plan_file import check_plan_out, write_plan_file

COLUMNS = ["action", "identity", "reason", "origin"]
ROWS = [
    {"action": "add", "identity": "ann@example.com", "reason": "in audience", "origin": "a.csv:2"},
    {"action": "remove", "identity": None, "reason": "exited", "origin": ""},
    {"action": "unresolved", "identity": "=HYPERLINK(\"http://x\")", "reason": "not in Marketo, \"quoted\"",
     "origin": "a.csv:4"},
]
EXPECTED = [{k: ("" if v is None else v) for k, v in row.items()} for row in ROWS]


def read_back(path: Path) -> list[dict[str, str]]:
    suffix = path.suffix
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    elif suffix == ".jsonl":
        frame = pd.read_json(path, lines=True, dtype=False)
    elif suffix == ".parquet":
        frame = pq.read_table(path).to_pandas()
    else:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    return frame.to_dict(orient="records")


@pytest.mark.parametrize("name", ["plan.csv", "plan.jsonl", "plan.parquet", "plan.xlsx"])
def test_every_format_holds_the_same_rows_and_is_private(tmp_path, name):
    path = tmp_path / "out" / name
    assert write_plan_file(path, COLUMNS, iter(ROWS)) == 3
    assert read_back(path) == EXPECTED
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_formula_looking_value_stays_text_in_xlsx(tmp_path):
    path = tmp_path / "plan.xlsx"
    write_plan_file(path, COLUMNS, ROWS)
    sheet = openpyxl.load_workbook(path).active
    cell = sheet["B4"]
    assert cell.value == '=HYPERLINK("http://x")'
    assert cell.data_type == "s"


def test_rows_are_written_a_chunk_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_file, "CHUNK_ROWS", 2)
    rows = [{"action": "add", "identity": f"p{i}@x.co", "reason": "", "origin": f"a:{i}"} for i in range(5)]
    for name in ("plan.csv", "plan.jsonl", "plan.parquet", "plan.xlsx"):
        path = tmp_path / name
        assert write_plan_file(path, COLUMNS, iter(rows)) == 5
        assert [r["identity"] for r in read_back(path)] == [f"p{i}@x.co" for i in range(5)]


def test_an_empty_plan_still_has_its_header(tmp_path):
    path = tmp_path / "plan.csv"
    assert write_plan_file(path, COLUMNS, []) == 0
    assert path.read_text(encoding="utf-8") == "action,identity,reason,origin\n"


def test_an_xlsx_past_the_sheet_limit_is_an_output_error(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_file, "XLSX_MAX_ROWS", 2)
    with pytest.raises(OutputError) as caught:
        write_plan_file(tmp_path / "plan.xlsx", COLUMNS, ROWS)
    assert "more than 2 rows" in caught.value.message


def test_an_unknown_extension_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError) as caught:
        check_plan_out(tmp_path / "plan.txt")
    assert "unknown file type '.txt'" in caught.value.message
    assert caught.value.hint == "name it .csv, .jsonl, .parquet or .xlsx"
    assert not (tmp_path / "plan.txt").exists()


def test_no_extension_is_csv_as_before(tmp_path):
    path = tmp_path / "plan"
    write_plan_file(path, COLUMNS, ROWS[:1])
    assert path.read_text(encoding="utf-8").splitlines()[0] == "action,identity,reason,origin"


def test_jsonl_lines_are_one_object_each(tmp_path):
    path = tmp_path / "plan.jsonl"
    write_plan_file(path, COLUMNS, ROWS)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["add", "remove", "unresolved"]
