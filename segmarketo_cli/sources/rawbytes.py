"""Stream a file's bytes in blocks, gunzipping (multi-member) when asked, and reporting a cut-off gzip."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.meter import METER

BLOCK = 1 << 20


class TruncatedInput(Exception):
    """The gzip stream ended early or is corrupt after some data was read; the rest is unreadable."""


def _new() -> zlib._Decompress:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def iter_blocks(path: Path, gzipped: bool) -> Iterator[bytes]:
    """Decompressed blocks of `path`; raises TruncatedInput after the last good block of a damaged gzip."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    with handle:
        if not gzipped:
            while block := handle.read(BLOCK):
                METER.advance(len(block))
                yield block
            return
        decomp, fed = _new(), False
        while raw := handle.read(BLOCK):
            METER.advance(len(raw))
            while raw:
                if not fed and not raw.strip(b"\x00"):
                    break  # zero padding after the last member
                fed = True
                try:
                    out = decomp.decompress(raw)
                except zlib.error as exc:
                    raise TruncatedInput(f"corrupt gzip data ({exc})") from None
                if out:
                    yield out
                if decomp.eof:  # a member ended; concatenated members follow in unused_data
                    raw = decomp.unused_data
                    decomp, fed = _new(), False
                else:
                    raw = b""
        if fed and not decomp.eof:
            raise TruncatedInput("gzip data ends early (file truncated)")
