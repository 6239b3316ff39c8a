"""Sources: JSONL / .gz / JSON array readers, gzip sniffing, truncation, discovery order."""

from __future__ import annotations

import gzip
import json
import os
import random

import pytest

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources import jsonlines, preflight, rawbytes, read_all
from segmarketo_cli.sources.jsonlines import ContainsAny, parse_line


def _lines(n: int) -> bytes:
    return b"".join(
        json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"email": f"p{i}@example.com"}}).encode() + b"\n"
        for i in range(n)
    )


def test_jsonl_gz_sniffed_by_magic_bytes_and_bad_lines_keep_file_line(tmp_path):
    path = tmp_path / "export"  # no extension at all: content decides
    path.write_bytes(gzip.compress(_lines(3) + b"{not json\n\n[1,2]\n" + _lines(1)))
    items = list(read_all(preflight([str(path)])))
    assert [i.origin for i in items] == [f"{path}:{n}" for n in (1, 2, 3, 4, 6, 7)]
    assert items[3].error.startswith("invalid JSON")
    assert items[4].error == "expected a JSON object, got list"
    assert items[5].message["userId"] == "u0"


def test_concatenated_gzip_members_are_read(tmp_path):
    path = tmp_path / "multi.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(2)) + gzip.compress(_lines(3)))
    assert sum(1 for i in read_all(preflight([str(path)])) if i.ok) == 5


def test_truncated_gzip_midway_rejects_the_remainder_with_file_line(tmp_path):
    data = gzip.compress(_lines(20000))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    items = list(read_all(preflight([str(path)])))
    good = [i for i in items if i.ok]
    bad = [i for i in items if not i.ok]
    assert len(bad) == 1
    assert "truncated" in bad[0].error
    assert bad[0].origin == f"{path}:{len(good) + 1}"
    assert 1000 < len(good) < 20000


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "no such file"),
        ("fake.jsonl.gz", b"plain text", "not gzip data"),
        ("stub.gz", gzip.compress(_lines(50), mtime=0)[:12], "truncated gzip"),
    ],
)
def test_unreadable_files_raise_input_error(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        preflight([str(path)])


def test_json_array_elements_stream_with_line_numbers(tmp_path):
    path = tmp_path / "msgs.json"
    path.write_text(json.dumps([{"type": "identify", "userId": "a"}, 5, {"type": "track"}], indent=1))
    items = list(read_all(preflight([str(path)])))
    assert [i.origin.rsplit(":", 1)[1] for i in items] == ["2", "6", "7"]
    assert items[0].message == {"type": "identify", "userId": "a"}
    assert items[1].error == "array element 2: expected a JSON object, got int"


def test_json_array_broken_midway_reports_where(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"type": "identify", "userId": "a"},\n{"type": oops}\n]')
    items = list(read_all(preflight([str(path)])))
    assert items[0].ok
    assert not items[1].ok
    assert items[1].origin == f"{path}:3"
    assert "invalid JSON" in items[1].error


def test_large_json_array_spans_blocks(tmp_path):
    path = tmp_path / "big.json.gz"
    rows = [{"type": "identify", "userId": f"u{i}", "traits": {"bio": "x" * 300}} for i in range(6000)]
    path.write_bytes(gzip.compress(json.dumps(rows).encode()))
    items = list(read_all(preflight([str(path)])))
    assert len(items) == 6000
    assert all(i.ok for i in items)
    assert items[-1].message["userId"] == "u5999"


def test_folders_and_globs_are_read_in_sorted_order(tmp_path):
    folder = tmp_path / "exports"
    (folder / "2024" / "02").mkdir(parents=True)
    (folder / "2024" / "01").mkdir(parents=True)
    (folder / "2024" / "02" / "b.jsonl").write_text('{"type":"identify","userId":"second"}\n')
    (folder / "2024" / "01" / "z.jsonl").write_text('{"type":"identify","userId":"first"}\n')
    (folder / ".hidden").write_text("ignored")
    by_folder = [i.message["userId"] for i in read_all(preflight([str(folder)]))]
    by_glob = [i.message["userId"] for i in read_all(preflight([str(folder / "**" / "*.jsonl")]))]
    assert by_folder == by_glob == ["first", "second"]
    with pytest.raises(InputError, match="no file matches"):
        preflight([str(folder / "*.parquet")])


def test_json_lines_named_json_and_pretty_objects_are_both_read(tmp_path):
    lines = tmp_path / "export.json"
    lines.write_bytes(_lines(3) + b"{broken\n" + _lines(1))
    items = list(read_all(preflight([str(lines)])))
    assert [i.ok for i in items] == [True, True, True, False, True]
    assert preflight([str(lines)])[0].format == "jsonl"
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"type": "identify", "userId": "a"}, indent=2) + "\n"
                      + json.dumps({"type": "identify", "userId": "b"}, indent=2))
    items = list(read_all(preflight([str(pretty)])))
    assert [i.message["userId"] for i in items] == ["a", "b"]
    assert items[1].origin == f"{pretty}:5"


def _items(path, keep):
    return [(i.origin, i.skipped, i.error, i.message) for i in read_all(preflight([str(path)]), keep=keep)]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_contains_any_block_scan_yields_what_the_per_line_filter_does(tmp_path, monkeypatch, block):


    monkeypatch.setattr(rawbytes, "BLOCK", block)
    rng = random.Random(block)
    kinds = [b'{"type":"identify","userId":"u%d"}', b'{"type":"track","event":"E%d"}', b'{"type":"page","n":%d}',
             b'{"type":"alias","previousId":"a%d","userId":"u"}', b'{"context":{"marketoCookie":"c%d"}}',
             b"", b"   ", b'  {"type":"track","n":%d}  ', b'{"type":"track","n":%d}\r', b"[%d]", b"{broken %d",
             b'{"type":"identify" %d', b"\xef\xbb\xbf{}", b'{"type":"page","n":%d}  ']
    lines = [rng.choice(kinds).replace(b"%d", str(n).encode()) for n in range(600)]
    for name, body in (("a.jsonl", b"\n".join(lines) + b"\n"), ("b.jsonl", b"\n".join(lines)),
                       ("c.jsonl.gz", gzip.compress(b"\n".join(lines[:300]) + b"\n"))):
        path = tmp_path / name
        path.write_bytes(body)
        needles = (b'"identify"', b'"alias"', b"marketoCookie")
        fast = _items(path, ContainsAny(*needles))
        slow = _items(path, lambda raw, needles=needles: any(n in raw for n in needles))
        assert fast == slow
        assert sum(1 for origin, skipped, *_ in fast if skipped) > 100
        assert any(e for _, _, e, _ in fast)


def test_contains_any_refuses_needles_it_cannot_search_for():

    with pytest.raises(ValueError):
        ContainsAny(b"a\nb")
    with pytest.raises(ValueError):
        ContainsAny()


@pytest.mark.parametrize("raw", [b'{"a": 1}', b'{"a": 1}\r', b'{"a": 1}  x', b'{"a": ', b'{"a": 1}{"b": 2}', b"{}",
                                 b'{"a": "\xc3\xa9"}', b'{"a": "\xff"}', b"\xef\xbb\xbf{}", b"[1]", b'"s"', b"{\x00}"])
def test_line_parsing_matches_json_loads(raw):

    item = parse_line(raw, "f:1")
    try:
        expected = json.loads(raw)
    except UnicodeDecodeError:
        assert item.error == "not valid UTF-8"
        return
    except ValueError as exc:
        assert item.error == f"invalid JSON: {exc.msg} at column {exc.colno}"
        return
    if isinstance(expected, dict):
        assert item.message == expected
        assert item.error is None
    else:
        assert item.error == f"expected a JSON object, got {type(expected).__name__}"


# No input lost uncounted (issue 12, item 5) ----------------------------------------------------------------------

def _identify(user: str) -> dict:
    return {"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}}


def test_jsonl_whose_first_line_is_an_array_is_still_read_line_by_line(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"[1, 2]\n" + _lines(3))
    assert preflight([str(path)])[0].format == "jsonl"
    items = list(read_all(preflight([str(path)])))
    assert [i.origin for i in items] == [f"{path}:{n}" for n in (1, 2, 3, 4)]
    assert items[0].error == "expected a JSON object, got list"
    assert [i.message["userId"] for i in items[1:]] == ["u0", "u1", "u2"]


def test_unnamed_file_whose_first_line_is_a_whole_array_followed_by_lines_is_jsonl(tmp_path):
    path = tmp_path / "export"
    path.write_bytes(b'[{"type": "identify", "userId": "x"}]\n' + _lines(2))
    items = list(read_all(preflight([str(path)])))
    assert len(items) == 3
    assert [i.message["userId"] for i in items[1:]] == ["u0", "u1"]


def test_pretty_printed_array_named_jsonl_is_still_read_as_an_array(tmp_path):
    path = tmp_path / "pretty.jsonl"
    path.write_text(json.dumps([_identify("a"), _identify("b")], indent=2))
    items = list(read_all(preflight([str(path)])))
    assert [i.message["userId"] for i in items] == ["a", "b"]


def test_broken_array_element_loses_that_element_only(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[\n" + json.dumps(_identify("a")) + ",\n"
                    + '{"type": "identify", "userId": tru, "traits": {"x": [1, "]"]}},\n'
                    + json.dumps(_identify("c")) + ",\n"
                    + '{"type": "identify", "nested": {"deep": [1, 2,, 3]}},\n'
                    + json.dumps(_identify("e")) + "\n]\n")
    items = list(read_all(preflight([str(path)])))
    assert [i.origin for i in items] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6)]
    assert [i.message["userId"] for i in items if i.ok] == ["a", "c", "e"]
    assert "array element 2" in items[1].error
    assert "invalid JSON" in items[1].error
    assert "array element 4" in items[3].error


def test_missing_comma_between_elements_rejects_the_next_element_and_reads_on(tmp_path):
    path = tmp_path / "comma.json"
    path.write_text("[\n" + json.dumps(_identify("a")) + "\n" + json.dumps(_identify("b")) + ",\n"
                    + json.dumps(_identify("c")) + "\n]")
    items = list(read_all(preflight([str(path)])))
    assert [i.message["userId"] for i in items if i.ok] == ["a", "c"]
    (bad,) = [i for i in items if not i.ok]
    assert bad.origin == f"{path}:3"
    assert "expected ',' or ']'" in bad.error


@pytest.mark.parametrize("name", ["big.json", "big.json.gz"])
def test_oversized_array_element_is_rejected_alone(tmp_path, monkeypatch, name):

    monkeypatch.setattr(jsonlines, "MAX_ELEMENT", 10_000)
    monkeypatch.setattr(rawbytes, "BLOCK", 4096)
    big = {"type": "identify", "userId": "big", "traits": {"bio": "x" * 50_000, "q": "a \\\" ] } quote"}}
    path = tmp_path / name
    rows = [_identify("a"), big, _identify("c")]
    data = ("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    items = list(read_all(preflight([str(path)])))
    assert [i.message["userId"] for i in items if i.ok] == ["a", "c"]
    (bad,) = [i for i in items if not i.ok]
    assert bad.origin == f"{path}:3"
    assert "array element 2" in bad.error
    assert "larger than" in bad.error


def test_invalid_utf8_in_one_array_element_loses_that_element_only(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b"[\n" + json.dumps(_identify("a")).encode() + b',\n{"type": "identify", "userId": "b\xe9"},\n'
                     + json.dumps(_identify("c")).encode() + b"\n]")
    items = list(read_all(preflight([str(path)])))
    assert [i.message["userId"] for i in items if i.ok] == ["a", "c"]
    (bad,) = [i for i in items if not i.ok]
    assert bad.origin == f"{path}:3"
    assert "not valid UTF-8" in bad.error


def test_unreadable_subfolder_is_an_input_error_naming_it(tmp_path, monkeypatch):

    folder = tmp_path / "exports"
    (folder / "ok").mkdir(parents=True)
    (folder / "locked").mkdir()
    (folder / "ok" / "a.jsonl").write_bytes(_lines(1))
    real_scandir = os.scandir

    def scandir(path):  # root reads any folder whatever its mode bits, so the refusal is simulated
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match="locked: folder cannot be read: Permission denied"):
        preflight([str(folder)])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 folder")
def test_mode_000_subfolder_is_an_input_error(tmp_path):
    folder = tmp_path / "exports"
    (folder / "locked").mkdir(parents=True)
    (folder / "locked" / "a.jsonl").write_bytes(_lines(1))
    (folder / "locked").chmod(0)
    try:
        with pytest.raises(InputError, match="locked: folder cannot be read"):
            preflight([str(folder)])
    finally:
        (folder / "locked").chmod(0o700)


def test_symlinked_subfolder_is_read_and_a_broken_link_is_an_error(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.jsonl").write_bytes(_lines(2))
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(_lines(1))
    (folder / "linked").symlink_to(elsewhere)
    (folder / "loop").symlink_to(folder)
    assert sum(1 for i in read_all(preflight([str(folder)])) if i.ok) == 3
    (folder / "gone.jsonl").symlink_to(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="gone.jsonl: broken symbolic link"):
        preflight([str(folder)])
