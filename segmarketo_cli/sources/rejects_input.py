"""A segmarketo rejects file given as input: recognised by its first record and refused with what to do instead."""

from __future__ import annotations

import json
import re
from pathlib import Path

from segmarketo_cli.errors import ConfigError

# run_job names the rejects files it writes <command>-<run id>.jsonl (docs/errors.md "Known rejects").
_NAME = re.compile(r"^([a-z-]+)-(\d{8}T\d{6}Z-[0-9a-f]{6})\.jsonl$")


def is_rejects_record(line: bytes) -> bool:
    """A rejects file line: a JSON object whose first key is "reason" (RejectsWriter writes it first) and that is not
    a Segment message (no "type", no "event")."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and next(iter(record), None) == "reason" and not {"type", "event"} & set(record)


def refuse_rejects_file(path: Path, head: bytes) -> None:
    """ConfigError (exit 2, before any write) when `head`, a JSON-lines file's first bytes, is a rejects file's."""
    first = next((line for line in head.split(b"\n") if line.strip()), b"")
    if not is_rejects_record(first):
        return
    named = _NAME.match(path.name)
    retry = f"segmarketo {named.group(1)} --retry-rejects {named.group(2)}" if named else \
        "segmarketo COMMAND --retry-rejects RUN ('segmarketo rejects list' shows the runs)"
    raise ConfigError(f"{path}: is a segmarketo rejects file (rejected records and their reasons), not input data; "
                      f"its records would all be ignored",
                      hint=f"to read the rejected records again from their own files: {retry}")
