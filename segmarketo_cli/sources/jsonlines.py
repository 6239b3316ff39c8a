"""Readers for newline-delimited JSON (Segment S3 exports) and JSON arrays, streamed block by block."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Generator, Iterator
from itertools import repeat

from segmarketo_cli.sources.discover import InputFile
from segmarketo_cli.sources.items import SKIPPED, SourceItem
from segmarketo_cli.sources.rawbytes import TruncatedInput, iter_blocks

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


def parse_line(raw: bytes, origin: str) -> SourceItem:
    """One line's message, or why it is malformed (read_jsonl's parse of every line it does not skip)."""
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
        yield parse_line(rest, f"{name}:{line_no}")


def _lines(lines: list[bytes], keep: LineFilter | None, name: str,
           line_no: int) -> Generator[SourceItem, None, int]:
    """The per-line path: `keep` decides, unusable object-shaped lines are SKIPPED; returns the last line number."""
    for raw in lines:
        line_no += 1
        item = line_item(raw, keep, name, line_no)
        if item is not None:
            yield item
    return line_no


def line_item(raw: bytes, keep: LineFilter | None, name: str, line_no: int) -> SourceItem | None:
    """What read_jsonl yields for the whole line `raw` (no newline) at `line_no`: SKIPPED when `keep` refuses an
    object-shaped line, the parsed message or its error, or None for a blank line."""
    if keep is not None and not keep(raw):
        shape = raw if raw[:1] == b"{" and raw[-1:] == b"}" else raw.strip()
        if shape[:1] == b"{" and shape[-1:] == b"}":
            return SKIPPED
    return parse_line(raw, f"{name}:{line_no}") if raw.strip() else None


def _scan(data: bytes, cut: int, needles: tuple[bytes, ...], name: str,
          line_no: int) -> Generator[SourceItem, None, int]:
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
        yield parse_line(data[start:at - 1], f"{name}:{line_no}")
    return line_no


def _never(_line: bytes) -> bool:
    return False


class _Text:
    """Decoded text of a block stream with a read position and a line counter.

    Bytes that are not UTF-8 decode to lone surrogates (surrogateescape), so one bad element is found and
    rejected on its own instead of ending the file.
    """

    def __init__(self, source: InputFile) -> None:
        self.blocks = iter_blocks(source.path, source.gzipped)
        self.utf8 = codecs.getincrementaldecoder("utf-8-sig")("surrogateescape")
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False
        self.undecodable = False  # some block held bytes that are not UTF-8: elements need checking

    def more(self) -> bool:
        """Append the next block; False at end of input. Raises TruncatedInput."""
        if self.eof:
            return False
        block = next(self.blocks, None)
        if block is None:
            self.eof = True
            return False
        decoded = self.utf8.decode(block)
        if not self.undecodable and not decoded.isascii():  # isascii is O(1); encode finds escaped bytes fast
            try:
                decoded.encode("utf-8")
            except UnicodeEncodeError:
                self.undecodable = True
        self.buf = self.buf[self.pos :] + decoded
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


_SPECIAL = re.compile(r'["\\{}\[\],\n]')
_SURROGATE = re.compile("[\udc80-\udcff]")


class _ElementEnd:
    """Finds where a broken element ends without decoding it: the ',' or ']' after it at depth 0 (array), or
    the end of the object / line (a stream of top-level objects). Fed block by block; counts newlines passed."""

    def __init__(self, in_array: bool) -> None:
        self.in_array = in_array
        self.depth = 0
        self.in_string = False
        self.escape_next = False
        self.newlines = 0

    def scan(self, buf: str, start: int) -> int | None:
        """The index where the element ends in buf[start:], or None when it goes on past the buffer."""
        self.newlines = 0
        skip_until = start + 1 if self.escape_next else start
        self.escape_next = False
        for match in _SPECIAL.finditer(buf, start):
            at, char = match.start(), match.group()
            if char == "\n":
                self.newlines += 1
            if at < skip_until:
                continue
            if self.in_string:
                if char == "\\":
                    skip_until = at + 2
                    self.escape_next = at + 1 >= len(buf)
                elif char in '"\n':  # a raw newline cannot be inside a string: that string was never closed
                    self.in_string = False
                continue
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]" and self.depth:
                self.depth -= 1
                if not self.depth and not self.in_array:
                    return at + 1
            elif self.depth == 0 and (char in ",]" if self.in_array else char == "\n"):
                self.newlines -= char == "\n"
                return at
        return None


def read_json_array(source: InputFile) -> Iterator[SourceItem]:
    """Each element of a top-level JSON array (or each of a stream of top-level objects), decoded incrementally;
    the origin is the line where the element starts. A broken or oversized element is rejected on its own."""
    name = str(source.path)
    text = _Text(source)
    decoder = json.JSONDecoder()
    try:
        yield from _elements(text, decoder, name)
    except TruncatedInput as exc:
        yield SourceItem(f"{name}:{text.line}", error=f"{exc}; line {text.line} onwards could not be read")


class _RunsToEnd(Exception):
    """A broken element whose end was not found before the end of the input."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _decode(text: _Text, decoder: json.JSONDecoder, in_array: bool) -> tuple[object, str | None]:
    """The next element at text.pos and None, or None and why it is unusable; text moves past it either way.

    Raises _RunsToEnd when a broken element runs to the end of the input."""
    while True:
        try:
            value, end = decoder.raw_decode(text.buf, text.pos)
        except RecursionError:
            problem = NESTED_TOO_DEEP
        except ValueError as exc:
            problem = f"invalid JSON: {json_error(exc)}"
        else:
            start, text.pos = text.pos, end
            text.line += text.buf.count("\n", start, end)
            if end - start > MAX_ELEMENT:  # whatever the block boundaries, so the outcome does not depend on them
                return None, f"larger than {MAX_ELEMENT:,} characters"
            if text.undecodable and _SURROGATE.search(text.buf, start, end):
                return None, "not valid UTF-8"
            return value, None
        finder = _ElementEnd(in_array)
        stop = finder.scan(text.buf, text.pos)
        if stop is None and len(text.buf) - text.pos > MAX_ELEMENT:
            problem = f"larger than {MAX_ELEMENT:,} characters"
        elif stop is None and text.more():
            continue  # the element may go on in the next block
        _skip(text, finder, stop, problem)
        return None, problem


def _skip(text: _Text, finder: _ElementEnd, stop: int | None, problem: str) -> None:
    """Move text to `stop`, reading (and dropping) further blocks until the finder sees the element end."""
    while stop is None:
        text.line += finder.newlines
        text.pos = len(text.buf)
        if not text.more():
            raise _RunsToEnd(problem)
        stop = finder.scan(text.buf, text.pos)
    text.line += finder.newlines
    text.pos = stop


def _skip_element(text: _Text, in_array: bool, problem: str) -> None:
    finder = _ElementEnd(in_array)
    _skip(text, finder, finder.scan(text.buf, text.pos), problem)


def _element(in_array: bool, index: int) -> str:
    """The prefix of an element's reject reason: which element of the array it was."""
    return f"array element {index}: " if in_array else ""


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
    index, refused = 0, None
    while True:
        if text.peek() is None:
            yield SourceItem(f"{name}:{text.line}", error="JSON array is not closed (missing ']')")
            return
        index += 1
        origin = f"{name}:{text.line}"
        try:
            if refused is None:
                value, problem = _decode(text, decoder, in_array)
            else:
                value, problem = None, refused
                _skip_element(text, in_array, refused)
        except _RunsToEnd as exc:
            yield SourceItem(origin, error=_element(in_array, index) + exc.problem)
            return
        refused = None
        if problem is not None:
            yield SourceItem(origin, error=_element(in_array, index) + problem)
        elif isinstance(value, dict):
            yield SourceItem(origin, message=value)
        else:
            problem = f"expected a JSON object, got {type(value).__name__}"
            yield SourceItem(origin, error=_element(in_array, index) + problem)
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
        if nxt == ",":
            text.pos += 1
        elif nxt is not None:  # the next element follows without a comma: it is rejected on its own, reading goes on
            refused = f"expected ',' or ']' before it, got {nxt!r}"
