"""sync-audience from a spreadsheet against the sandbox: the list ends up equal to the sheet's people."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from segmarketo_cli.jobs.changes import PLAN_COLUMNS


def test_an_xlsx_sheet_syncs_like_its_csv_and_rejects_name_sheet_and_row(sandbox, invoke, tmp_path):
    box = sandbox.marketo
    ids = [box.add_lead(email=f"p{i}@example.com") for i in range(4)]
    list_id = box.add_list("Attendees")
    box.add_to_list(list_id, [ids[3]])
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["exported from the event tool"])
    sheet = book.create_sheet("Day 1")
    for row in (["Event attendees, day 1"], ["Name", "Email address"], ["P0", "P0@example.com"],
                ["P1", "p1@example.com"], ["Nobody", "=A5&\"@example.com\""], ["P2", "p2@example.com"]):
        sheet.append(row)
    path = tmp_path / "attendees.xlsx"
    book.save(path)
    rejects = tmp_path / "rejects.jsonl"

    result = invoke("sync-audience", str(path), "--sheet", "Day 1", "--list", "Attendees", "--force", "--json",
                    "--rejects", str(rejects))

    assert result.exit_code == 3, result.output  # one rejected row
    assert box.list_members(list_id) == {ids[0], ids[1], ids[2]}
    counts = json.loads(result.stdout)["counts"]
    assert counts["audience_rows"] == 4
    assert counts["added"] == 3
    assert counts["removed"] == 1
    [line] = rejects.read_text(encoding="utf-8").splitlines()
    reject = json.loads(line)
    assert reject["origin"] == f"{path}:Day 1:5"
    assert reject["reason"].startswith("cell holds a formula")


def test_an_unknown_sheet_stops_before_any_call(sandbox, invoke, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Leads"
    book.active.append(["email"])
    path = Path(tmp_path / "aud.xlsx")
    book.save(path)
    result = invoke("sync-audience", str(path), "--sheet", "leads2", "--list", "X")
    assert result.exit_code == 2
    assert "no sheet 'leads2'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("plan_suffix", [".csv", ".xlsx"])
def test_an_xlsx_audience_plans_the_same_rows_as_its_csv(sandbox, invoke, tmp_path, plan_suffix):
    box = sandbox.marketo
    ids = [box.add_lead(email=f"p{i}@example.com") for i in range(4)]
    list_id = box.add_list("Attendees")
    box.add_to_list(list_id, [ids[3]])
    rows = [["Name", "Email address"], ["P0", "P0@example.com"], ["P1", "p1@example.com"],
            ["Ghost", "ghost@example.com"], ["Typo", "not-an-email"], ["P2", "p2@example.com"]]
    book = openpyxl.Workbook()
    book.active.title = "Day 1"
    book.active.append(["Event attendees, day 1"])  # a title row above the header
    for row in rows:
        book.active.append(row)
    sheet_path = tmp_path / "attendees.xlsx"
    book.save(sheet_path)
    csv_path = tmp_path / "attendees.csv"
    csv_path.write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")

    def plan_of(path: Path) -> list[dict[str, str]]:
        plan_file = tmp_path / f"plan-{path.suffix[1:]}{plan_suffix}"
        result = invoke("sync-audience", str(path), "--list", "Attendees", "--force", "--dry-run", "--plan-out",
                        str(plan_file), "--rejects", str(tmp_path / f"rejects-{path.suffix[1:]}.jsonl"))
        assert result.exit_code == 3, result.output  # the rejected row
        if plan_suffix == ".xlsx":
            frame = pd.read_excel(plan_file, dtype=str, keep_default_na=False, engine="openpyxl")
        else:
            frame = pd.read_csv(plan_file, dtype=str, keep_default_na=False)
        assert list(frame.columns) == PLAN_COLUMNS
        return frame.to_dict(orient="records")

    from_sheet, from_csv = plan_of(sheet_path), plan_of(csv_path)

    def without_origin(plan: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if k != "origin"} for row in plan]

    assert without_origin(from_sheet) == without_origin(from_csv)
    assert [(r["action"], r["key"]) for r in from_csv] == [
        ("add", "p0@example.com"), ("add", "p1@example.com"), ("add", "p2@example.com"),
        ("remove", "p3@example.com"), ("unresolved", "ghost@example.com"), ("reject", "not-an-email")]
    # The same person's row: line n of the CSV is row n + 1 of the sheet, below its title row.
    for sheet_row, csv_row in zip(from_sheet, from_csv, strict=True):
        if csv_row["origin"]:
            line = int(csv_row["origin"].rsplit(":", 1)[1])
            assert (csv_row["origin"], sheet_row["origin"]) == (f"{csv_path}:{line}",
                                                                f"{sheet_path}:Day 1:{line + 1}")
