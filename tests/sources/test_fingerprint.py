"""Input file fingerprints: resolved path, size, mtime and a blake2b digest of the bytes as stored."""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.fingerprint import BLOCK, content_digest, fingerprint, stat_file


def test_the_digest_is_blake2b_of_the_bytes_as_stored(tmp_path):
    path = tmp_path / "day.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"type": "identify", "userId": "u1"}\n'))
    assert content_digest(str(path)) == hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest()


def test_a_file_larger_than_one_block_is_hashed_whole(tmp_path):
    path = tmp_path / "big.jsonl"
    data = os.urandom(BLOCK) + b"tail"
    path.write_bytes(data)
    assert content_digest(str(path)) == hashlib.blake2b(data, digest_size=32).hexdigest()


def test_the_fingerprint_names_the_resolved_file(tmp_path, monkeypatch):
    target = tmp_path / "data" / "day.jsonl"
    target.parent.mkdir()
    target.write_bytes(b"{}\n")
    os.utime(target, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    monkeypatch.chdir(tmp_path)
    stat = stat_file(link.relative_to(tmp_path))
    assert stat.path == str(target.resolve())
    assert stat.size == 3
    assert stat.mtime_ns == 1_700_000_000_123_456_789
    assert fingerprint(stat).digest == hashlib.blake2b(b"{}\n", digest_size=32).hexdigest()


def test_a_file_gone_since_it_was_checked_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="day.jsonl: cannot be read"):
        stat_file(tmp_path / "day.jsonl")
    with pytest.raises(InputError, match="day.jsonl: cannot be read"):
        content_digest(str(tmp_path / "day.jsonl"))
