"""Readers for newline-delimited JSON (Segment S3 exports) and JSON arrays, streamed block by block."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator

from .discover import InputFile
from .items import SKIPPED, SourceItem
from .rawbytes import TruncatedInput, iter_blocks

LineFilter = Callable[[bytes], bool]

_WS = " \t\r\n"
MAX_ELEMENT = 16 << 20  # a JSON array element larger than this is treated as malformed


def _parse_line(raw: bytes, origin: str) -> SourceItem:
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        return SourceItem(origin, error="not valid UTF-8")
    except ValueError as exc:
        return SourceItem(origin, error=f"invalid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        return SourceItem(origin, error=f"expected a JSON object, got {type(value).__name__}")
    return SourceItem(origin, message=value)


def read_jsonl(source: InputFile, keep: LineFilter | None = None) -> Iterator[SourceItem]:
    """One item per non-blank line; a gzip cut midway yields one error for the unreadable remainder.

    `keep(raw_line)` False means the caller cannot use the line: if it is shaped like an object ({...}) it
    is yielded as SKIPPED without being parsed (the fast path for big exports); otherwise it is parsed as
    usual so a broken line is still reported.
    """
    name = str(source.path)
    line_no = 0
    rest = b""
    try:
        for block in iter_blocks(source.path, source.gzipped):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                line_no += 1
                if keep is not None and not keep(raw):
                    shape = raw if raw[:1] == b"{" and raw[-1:] == b"}" else raw.strip()
                    if shape[:1] == b"{" and shape[-1:] == b"}":
                        yield SKIPPED
                        continue
                if raw.strip():
                    yield _parse_line(raw, f"{name}:{line_no}")
    except TruncatedInput as exc:
        line_no += 1
        yield SourceItem(f"{name}:{line_no}", error=f"{exc}; line {line_no} onwards could not be read")
        return
    if rest.strip():
        line_no += 1
        yield _parse_line(rest, f"{name}:{line_no}")


class _Text:
    """Decoded text of a block stream with a read position and a line counter."""

    def __init__(self, source: InputFile) -> None:
        self.blocks = iter_blocks(source.path, source.gzipped)
        self.utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False

    def more(self) -> bool:
        """Append the next block; False at end of input. Raises TruncatedInput / UnicodeDecodeError."""
        if self.eof:
            return False
        block = next(self.blocks, None)
        if block is None:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + self.utf8.decode(block)
        self.pos = 0
        return True

    def peek(self) -> str | None:
        """The next non-blank character (not consumed), or None at end of input."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return None


def read_json_array(source: InputFile) -> Iterator[SourceItem]:
    """Each element of a top-level JSON array (or each of a stream of top-level objects), decoded incrementally;
    the origin is the line where the element starts."""
    name = str(source.path)
    text = _Text(source)
    decoder = json.JSONDecoder()
    try:
        yield from _elements(text, decoder, name)
    except TruncatedInput as exc:
        yield SourceItem(f"{name}:{text.line}", error=f"{exc}; line {text.line} onwards could not be read")
    except UnicodeDecodeError:
        yield SourceItem(f"{name}:{text.line}", error="not valid UTF-8; the rest of the file was skipped")


def _elements(text: _Text, decoder: json.JSONDecoder, name: str) -> Iterator[SourceItem]:
    first = text.peek()
    if first is None:
        return
    in_array = first == "["
    if in_array:
        text.pos += 1
        if text.peek() == "]":
            text.pos += 1
            return
    while True:
        if text.peek() is None:
            yield SourceItem(f"{name}:{text.line}", error="JSON array is not closed (missing ']')")
            return
        while True:
            try:
                value, end = decoder.raw_decode(text.buf, text.pos)
                break
            except ValueError as exc:
                too_big = len(text.buf) - text.pos > MAX_ELEMENT
                if too_big or not text.more():  # else the element may continue in the next block
                    yield SourceItem(f"{name}:{text.line}", error=f"invalid JSON: {exc.msg}; rest of file skipped")
                    return
        origin = f"{name}:{text.line}"
        text.line += text.buf.count("\n", text.pos, end)
        text.pos = end
        if isinstance(value, dict):
            yield SourceItem(origin, message=value)
        else:
            yield SourceItem(origin, error=f"expected a JSON object, got {type(value).__name__}")
        nxt = text.peek()
        if not in_array:
            if nxt is None:
                return
            continue  # a stream of top-level objects (e.g. JSON lines in a file named .json)
        if nxt == "]":
            text.pos += 1
            if text.peek() is not None:
                yield SourceItem(f"{name}:{text.line}", error="unexpected data after the JSON array")
            return
        if nxt != ",":
            where = "end of file" if nxt is None else repr(nxt)
            yield SourceItem(f"{name}:{text.line}", error=f"expected ',' or ']' between array elements, got {where}")
            return
        text.pos += 1
