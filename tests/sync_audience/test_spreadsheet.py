"""sync-audience from a spreadsheet against the sandbox: the list ends up equal to the sheet's people."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl


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
