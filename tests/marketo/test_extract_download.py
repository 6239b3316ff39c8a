"""Bulk Extract files are streamed to a private file, checked (SHA-256 and size) while written, never held whole."""

from __future__ import annotations

import hashlib
import stat as file_stat
import tracemalloc

import pytest
import requests

from segmarketo_cli.config import load_settings
from segmarketo_cli.errors import ServiceUnavailable
from segmarketo_cli.jobs.extract_file import csv_rows, downloaded_extract
from segmarketo_cli.jobs.services import build_marketo
from segmarketo_cli.marketo import bulk
from segmarketo_cli.marketo.exceptions import ExtractChecksumMismatch

LEADS = 20_000


@pytest.fixture
def completed(sandbox):
    """(client, export id, Completed status row) of a lead extract of a LEADS-member list."""
    list_id = sandbox.marketo.add_list("Big")
    ids = [sandbox.marketo.add_lead(email=f"member{i:06d}@example.com", firstName=f"Member number {i}")
           for i in range(LEADS)]
    sandbox.marketo.add_to_list(list_id, ids)
    client = build_marketo(load_settings())
    export_id = client.bulk_extract_create("leads", fields=["id", "email", "firstName"],
                                           filter={"staticListId": list_id})
    client.bulk_extract_enqueue("leads", export_id)
    status: dict = {}
    while status.get("status") != "Completed":
        status = client.bulk_extract_status("leads", export_id)
    return client, export_id, status


def test_a_large_extract_is_written_to_a_private_file_identical_to_marketos(sandbox, completed, tmp_path,
                                                                            monkeypatch):
    client, export_id, status = completed
    monkeypatch.setattr(bulk, "DOWNLOAD_CHUNK", 16 * 1024)
    held: list[int] = []  # the client's live Python memory at every 8th chunk written (the sandbox's left out)
    opened = bulk._private_file

    def watched(path):
        out = opened(path)
        write = out.write

        def write_and_measure(chunk):
            if len(held) % 8 == 0:
                snapshot = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(False, pattern, all_frames=True)
                     for pattern in ("*/sandbox/*", "*/socketserver.py", "*/http/server.py", "*/tracemalloc.py")])
                held.append(sum(stat.size for stat in snapshot.statistics("filename")))
            else:
                held.append(held[-1])
            return write(chunk)

        out.write = write_and_measure
        return out

    monkeypatch.setattr(bulk, "_private_file", watched)
    target = tmp_path / "extract.csv"
    tracemalloc.start(40)
    try:
        client.bulk_extract_download("leads", export_id, status, target)
    finally:
        tracemalloc.stop()
    original = sandbox.bulk.exports[export_id].file
    assert target.read_bytes() == original
    assert status["fileSize"] == len(original) > 800_000
    assert file_stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(held) > 40  # written chunk by chunk
    assert max(held) < len(original) / 4  # a few chunks in memory, never the file


def test_the_rows_read_from_the_file_are_the_extracts_rows(completed, tmp_path):
    client, export_id, status = completed
    with downloaded_extract(client, "leads", export_id, status, tmp_path) as path:
        rows = [(line, row["email"]) for line, row in csv_rows(path)]
    assert not path.exists()  # removed once read
    assert rows == [(n + 2, f"member{n:06d}@example.com") for n in range(LEADS)]


def test_a_file_of_the_wrong_size_is_downloaded_again_then_refused(completed, tmp_path, sandbox):
    client, export_id, status = completed
    with pytest.raises(ExtractChecksumMismatch):
        client.bulk_extract_download("leads", export_id, {**status, "fileSize": status["fileSize"] + 1},
                                     tmp_path / "extract.csv")
    assert not (tmp_path / "extract.csv").exists()


def test_a_corrupt_download_is_fetched_again_and_kept_intact(completed, tmp_path, sandbox):
    client, export_id, status = completed
    sandbox.faults.add("corrupt", times=1)
    target = tmp_path / "extract.csv"
    client.bulk_extract_download("leads", export_id, status, target)
    assert sandbox.faults.pending == 0
    assert "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest() == status["fileChecksum"]


def cut_off(client, monkeypatch, times: int) -> list[int]:
    """The client's next `times` file downloads break off after their first chunk; the cuts made are counted."""
    cuts: list[int] = []
    raw = client.raw

    def answer(*args, **kwargs):
        response = raw(*args, **kwargs)
        if len(cuts) < times:
            cuts.append(1)
            chunks = response.iter_content

            def broken(size):
                yield next(chunks(size))
                raise requests.exceptions.ChunkedEncodingError("connection broken mid-file")

            response.iter_content = broken
        return response

    monkeypatch.setattr(client, "raw", answer)
    return cuts


def test_a_download_cut_off_mid_file_is_fetched_again(completed, tmp_path, monkeypatch):
    client, export_id, status = completed
    cuts = cut_off(client, monkeypatch, times=1)
    target = tmp_path / "extract.csv"
    client.bulk_extract_download("leads", export_id, status, target)
    assert cuts == [1]
    assert "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest() == status["fileChecksum"]


def test_a_download_cut_off_twice_is_a_temporary_failure(completed, tmp_path, monkeypatch):
    client, export_id, status = completed
    cuts = cut_off(client, monkeypatch, times=2)
    with pytest.raises(ServiceUnavailable, match="broke off twice"):
        client.bulk_extract_download("leads", export_id, status, tmp_path / "extract.csv")
    assert cuts == [1, 1]
