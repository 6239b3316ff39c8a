"""Sources: the one CSV reader shared by backfill-leads, apply-events and sync-audience."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources import preflight, read_all
from segmarketo_cli.sources.audience.readers import read_audience
from segmarketo_cli.sources.csvfile import CsvFile, sniff_delimiter
from segmarketo_cli.sources.discover import inspect
from tests.sync_audience.engine_plan import loaded


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf\r\n"], ids=["zero-bytes", "blank-lines", "bom-only"])
def test_empty_csv_is_one_input_error_naming_the_file_for_every_caller(tmp_path, data):
    path = write(tmp_path, "empty.csv", data)
    message = rf"^{path}: empty file \(no header row\)$"
    with pytest.raises(InputError, match=message):
        preflight([str(path)])  # backfill-leads and apply-events: before any write (it used to read as no rows)
    with pytest.raises(InputError, match=message):
        read_audience(path)  # sync-audience, as before


@pytest.mark.parametrize(("line", "expected"), [
    ("a,b|c", ","), ("a\tb\tc,d", "\t"), ("a|b|c", "|"), ("a;b;c", ";"), ("a:b:c", ":"), ("email", ","),
    ("a,b;c|d", ","),
])
def test_delimiter_is_the_one_the_header_uses_most_commas_winning_ties(line, expected):
    assert sniff_delimiter(line) == expected


def test_colon_delimited_warehouse_csv_is_read_by_backfill_too(tmp_path):
    path = write(tmp_path, "users.csv", b"user_id:email\nu1:a@example.com\n")
    (item,) = list(read_all(preflight([str(path)])))
    assert item.message == {"userId": "u1", "type": "identify", "traits": {"email": "a@example.com"}}


def test_bom_and_padded_header_names_are_trimmed(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeff user_id , email \nu1,a@example.com\n".encode())
    with CsvFile(inspect(path)) as table:
        assert table.header == ["user_id", "email"]
        (row,) = list(table.rows())
    assert row.cells == ["u1", "a@example.com"]
    assert row.error is None


def test_long_and_short_rows_are_rejected_with_file_line_and_the_run_goes_on(tmp_path):
    path = write(tmp_path, "rows.csv", b"user_id,email\nu1,a@example.com,extra\nu2\n\nu3,c@example.com\n")
    with CsvFile(inspect(path)) as table:
        rows = list(table.rows())
    assert [(r.origin, r.error) for r in rows] == [
        (f"{path}:2", "row has 3 columns, header has 2"),
        (f"{path}:3", "row has 1 columns, header has 2"),
        (f"{path}:5", None),
    ]


def test_audience_csv_pads_short_rows_and_rejects_long_ones(tmp_path):
    path = write(tmp_path, "aud.csv", b"key,email,email_1\nk1,a@example.com\nk2,b@example.com,c@example.com,x\n")
    result = loaded(read_audience(path))
    assert [p.key.value for p in result.people] == ["a@example.com"]
    (reject,) = result.rejects
    assert reject.origin == f"{path}:3"
    assert reject.reason == "row has 4 columns, header has 3"


def test_audience_csv_cut_gzip_ends_with_the_shared_reason(tmp_path):
    body = "email\n" + "".join(f"p{i}@example.com\n" for i in range(5000))
    data = gzip.compress(body.encode())
    path = write(tmp_path, "aud.csv.gz", data[: len(data) // 2])
    result = loaded(read_audience(path))
    assert result.people
    last = result.rejects[-1]
    assert last.reason.startswith("gzip data ends early or is corrupt")
    assert last.reason.endswith("onwards could not be read")
    assert result.rows == len(result.people) + result.repeated + len(result.rejects)


def test_audience_csv_invalid_utf8_after_the_header_has_the_shared_reason(tmp_path):
    body = b"email\n" + b"".join(b"p%d@example.com\n" % i for i in range(3000)) + b"caf\xe9@example.com\n"
    path = write(tmp_path, "aud.csv", body)
    result = loaded(read_audience(path))
    assert result.rejects[-1].reason == "not valid UTF-8; the rest of the file was skipped"

