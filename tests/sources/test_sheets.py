"""Spreadsheet audiences: header detection, file:sheet:row origins, formulas, merged headers, sheets, bombs."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.sources import preflight
from segmarketo_cli.sources.audience.readers import Identity
from segmarketo_cli.sources.audience.readers import read_audience as check_audience
from segmarketo_cli.sources.discover import inspect
from segmarketo_cli.sources.sheets import MAX_SHARED_STRINGS, cell_text, column_letter
from tests.sync_audience.engine_plan import loaded

XLS_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "attendees.xls"


def workbook(tmp_path: Path, sheets: dict[str, list[list[object]]], name: str = "aud.xlsx") -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    path = tmp_path / name
    book.save(path)
    return path


def read_audience(path, **options):
    return loaded(check_audience(path, **options))


def keys(result) -> list[str]:
    return [p.key.value for p in result.people]


def test_title_rows_above_the_header_are_skipped_and_origins_name_sheet_and_row(tmp_path):
    path = workbook(tmp_path, {"Attendees": [
        ["Summit 2026 attendees"], [], ["Name", "E-mail", "Company"],
        ["Ann", "Ann@Example.com ", "Acme"], ["Bob", "not-an-email", "Beta"], [None, None, None],
        ["Cy", "cy@example.com", None],
    ]})
    result = read_audience(path)
    assert keys(result) == ["ann@example.com", "cy@example.com"]
    assert result.people[0].origin == f"{path}:Attendees:4"
    assert result.people[1].origin == f"{path}:Attendees:7"
    assert [r.origin for r in result.rejects] == [f"{path}:Attendees:5"]
    assert result.rejects[0].value == "not-an-email"
    assert result.rows == 3


def test_sheet_option_picks_a_sheet_and_an_unknown_one_suggests_the_closest(tmp_path):
    path = workbook(tmp_path, {"Notes": [["nothing here"]], "Leads": [["email"], ["a@example.com"]]})
    assert keys(read_audience(path, sheet="Leads")) == ["a@example.com"]
    with pytest.raises(ConfigError) as caught:
        check_audience(path, sheet="Lead")
    assert "no sheet 'Lead'" in caught.value.message
    assert caught.value.hint == "did you mean --sheet 'Leads'?"


def test_the_first_sheet_is_read_by_default(tmp_path):
    path = workbook(tmp_path, {"First": [["email"], ["first@example.com"]], "Second": [["email"], ["b@example.com"]]})
    assert keys(read_audience(path)) == ["first@example.com"]


def test_id_columns_numbers_and_user_ids_read_like_csv_cells(tmp_path):
    path = workbook(tmp_path, {"S": [["lead_id"], [1234.0], [55], ["x"]]})
    result = read_audience(path)
    assert [i.identities for i in result.people] == [(Identity("marketo-id", "1234"),), (Identity("marketo-id", "55"),)]
    assert [r.origin.rsplit(":", 1)[1] for r in result.rejects] == ["4"]


def test_a_formula_in_an_identifier_cell_is_rejected_with_its_text(tmp_path):
    rows = [["email", "days"], ["=LOWER(\"A@EXAMPLE.COM\")", 3], ["b@example.com", "=TODAY()"]]
    path = workbook(tmp_path, {"S": rows})
    result = read_audience(path)
    assert keys(result) == ["b@example.com"]  # a formula outside the identifier columns does not matter
    reject = result.rejects[0]
    assert reject.origin == f"{path}:S:2"
    assert reject.reason.startswith("cell holds a formula")
    assert reject.field == "email"
    assert reject.value == '=LOWER("A@EXAMPLE.COM")'


def test_a_merged_or_blank_header_cell_stops_before_any_row(tmp_path):
    path = workbook(tmp_path, {"S": [["email", None, "name"], ["a@example.com", "x", "Ann"]]})
    with pytest.raises(InputError) as caught:
        check_audience(path)
    assert "header row 1, column B has no name" in caught.value.message


def test_a_value_beyond_the_header_is_a_rejected_row(tmp_path):
    path = workbook(tmp_path, {"S": [["email"], ["a@example.com", None, "stray"], ["b@example.com"]]})
    result = read_audience(path)
    assert keys(result) == ["b@example.com"]
    assert result.rejects[0].reason == "a value in column C, which has no header"


def test_an_empty_sheet_and_a_sheet_without_identifier_are_clear_errors(tmp_path):
    empty = workbook(tmp_path, {"S": []}, "empty.xlsx")
    with pytest.raises(InputError, match="empty sheet"):
        check_audience(empty)
    no_id = workbook(tmp_path, {"S": [["name", "company"], ["Ann", "Acme"]]}, "noid.xlsx")
    with pytest.raises(ConfigError, match="no identifier column found"):
        check_audience(no_id)


def test_a_damaged_workbook_and_a_plain_zip_are_refused(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(InputError, match="not a readable .xlsx workbook"):
        check_audience(bad)
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.csv", "email\na@example.com\n")
    with pytest.raises(InputError, match="a ZIP archive, not a data file"):
        inspect(archive)


def test_a_text_table_that_expands_past_the_limit_is_refused_before_reading(tmp_path):
    path = workbook(tmp_path, {"S": [["email"], ["a@example.com"]]})
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        # Only its declared size matters: the check reads the archive's directory, never the part itself.
        with target.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            chunk = b" " * (1 << 20)
            for _ in range(MAX_SHARED_STRINGS // len(chunk) + 1):
                part.write(chunk)
    with pytest.raises(InputError) as caught:
        check_audience(bomb)
    assert "its text table expands to" in caught.value.message


def test_legacy_xls_reads_through_pandas(tmp_path):
    result = read_audience(XLS_FIXTURE)
    assert keys(result) == ["ann@example.com", "bob@example.com"]
    assert result.people[0].origin == f"{XLS_FIXTURE}:Attendees:4"  # the blank first row still counts
    assert [r.origin for r in result.rejects] == [f"{XLS_FIXTURE}:Attendees:5"]


def test_a_damaged_xls_is_refused(tmp_path):
    bad = tmp_path / "bad.xls"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(InputError, match="not a readable .xls workbook"):
        check_audience(bad)


def test_a_csv_header_with_spaces_is_recognised_too(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("Full Name,Email Address\nAnn,ann@example.com\n", encoding="utf-8")
    assert keys(read_audience(path)) == ["ann@example.com"]


def test_sheet_is_for_spreadsheets_only(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("email\na@example.com\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="--sheet is for .xlsx and .xls files"):
        check_audience(path, sheet="S")


def test_other_jobs_refuse_a_spreadsheet_before_reading(tmp_path):
    path = workbook(tmp_path, {"S": [["email"], ["a@example.com"]]})
    with pytest.raises(InputError) as caught:
        preflight([str(path)])
    assert "spreadsheets are audience files for sync-audience" in caught.value.message


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), (True, "TRUE"), (12.0, "12"), (1.5, "1.5"), (dt.date(2026, 1, 2), "2026-01-02"),
    (dt.datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05"), (" a ", "a"), (float("nan"), ""),
])
def test_cell_text_matches_a_csv_export(value, text):
    assert cell_text(value) == text


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]
