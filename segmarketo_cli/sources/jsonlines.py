"""Readers for newline-delimited JSON (Segment S3 exports) and JSON arrays, streamed block by block."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from itertools import repeat

from .discover import InputFile
from .items import SKIPPED, SourceItem
from .rawbytes import TruncatedInput, iter_blocks

LineFilter = Callable[[bytes], bool]


class ContainsAny:
    """A LineFilter keeping lines that contain any of `needles` (byte strings without newlines).

    read_jsonl recognises it and finds the kept lines with block-wide searches instead of testing every line.
    """

    def __init__(self, *needles: bytes) -> None:
        if not needles or any(not n or b"\n" in n for n in needles):
            raise ValueError("needles must be non-empty byte strings without newlines")
        self.needles = needles

    def __call__(self, line: bytes) -> bool:
        return any(needle in line for needle in self.needles)

_WS = " \t\r\n"
MAX_ELEMENT = 16 << 20  # a JSON array element larger than this is treated as malformed
_raw_decode = json.JSONDecoder().raw_decode
NESTED_TOO_DEEP = "invalid JSON: nested too deeply"  # Python's decoder recurses once per level


def json_error(exc: ValueError) -> str:
    """The reason of a JSON parse failure, without Python's advice on raising the int digit limit."""
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]


def _parse_line(raw: bytes, origin: str) -> SourceItem:
    try:
        if raw[:1] == b"{" and raw[1:2] != b"\x00":
            # UTF-8 (json.loads would detect just that), decoded without json.loads' wrappers; a line that does
            # not decode cleanly is handed to json.loads for its usual error message.
            text = raw.decode("utf-8")
            try:
                value, end = _raw_decode(text)
            except ValueError:
                value, end = None, -1
            if end != len(text) and (end < 0 or text[end:].strip()):
                value = json.loads(text)
        else:
            value = json.loads(raw)  # a BOM, UTF-16, or not an object: json.loads' own detection
    except UnicodeDecodeError:
        return SourceItem(origin, error="not valid UTF-8")
    except json.JSONDecodeError as exc:
        return SourceItem(origin, error=f"invalid JSON: {exc.msg} at column {exc.colno}")
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (Python's int conversion limit)
        return SourceItem(origin, error=f"invalid JSON: {json_error(exc)}")
    except RecursionError:
        return SourceItem(origin, error=NESTED_TOO_DEEP)
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
            data = rest + block
            if isinstance(keep, ContainsAny):
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                line_no = yield from _scan(data, cut, keep.needles, name, line_no)
                continue
            lines = data.split(b"\n")
            rest = lines.pop()
            line_no = yield from _lines(lines, keep, name, line_no)
    except TruncatedInput as exc:
        line_no += 1
        yield SourceItem(f"{name}:{line_no}", error=f"{exc}; line {line_no} onwards could not be read")
        return
    if rest.strip():
        line_no += 1
        yield _parse_line(rest, f"{name}:{line_no}")


def _lines(lines: list[bytes], keep: LineFilter | None, name: str, line_no: int) -> Iterator[SourceItem]:
    """The per-line path: `keep` decides, unusable object-shaped lines are SKIPPED; returns the last line number."""
    for raw in lines:
        line_no += 1
        if keep is not None and not keep(raw):
            shape = raw if raw[:1] == b"{" and raw[-1:] == b"}" else raw.strip()
            if shape[:1] == b"{" and shape[-1:] == b"}":
                yield SKIPPED
                continue
        if raw.strip():
            yield _parse_line(raw, f"{name}:{line_no}")
    return line_no


def _scan(data: bytes, cut: int, needles: tuple[bytes, ...], name: str, line_no: int) -> Iterator[SourceItem]:
    """The lines of data[:cut] (each ending in a newline) as _lines would yield them for ContainsAny(needles).

    Lines holding a needle are found with bytes.find; a run of other lines that are all '{...}' is counted as
    SKIPPED without splitting it; any other run (blank, padded or broken lines) goes through _lines.
    """
    starts: set[int] = set()
    find, count = data.find, data.count
    for needle in needles:
        pos = find(needle, 0, cut)
        while pos != -1:
            starts.add(data.rfind(b"\n", 0, pos) + 1)
            pos = find(needle, find(b"\n", pos, cut) + 1, cut)
    at = 0
    for start in (*sorted(starts), cut):
        if start > at:  # lines at..start hold no needle
            n = count(b"\n", at, start)
            # Every line is '{...}': it starts with '{', ends with '}', and each other newline sits in '}\n{'.
            if data[at] == 123 and data[start - 2] == 125 and count(b"}\n{", at, start) == n - 1:
                yield from repeat(SKIPPED, n)
                line_no += n
            else:
                line_no = yield from _lines(data[at:start - 1].split(b"\n"), _never, name, line_no)
        if start == cut:
            break
        at = find(b"\n", start, cut) + 1
        line_no += 1
        yield _parse_line(data[start:at - 1], f"{name}:{line_no}")
    return line_no


def _never(_line: bytes) -> bool:
    return False


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
                    yield SourceItem(f"{name}:{text.line}",
                                     error=f"invalid JSON: {json_error(exc)}; rest of file skipped")
                    return
            except RecursionError:
                yield SourceItem(f"{name}:{text.line}", error=f"{NESTED_TOO_DEEP}; rest of file skipped")
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
