"""--retry-rejects RUN: copies of the origin files of a run's rejects that hold only the rejected records, each at its
own line (the other lines left blank), so the job reads exactly those records and reports their origins unchanged."""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.jobs.known_rejects import origin_file
from segmarketo_cli.sources.discover import inspect
from segmarketo_cli.sources.fingerprint import content_digest, stat_file
from segmarketo_cli.state.reject_history import OriginRow, RejectHistory

LINE_FORMATS = ("jsonl", "csv")  # formats whose records sit at a line of their own; Parquet rows and JSON arrays not
_BATCH = 5_000


@dataclass
class RetryInputs:
    """What a retry reads: `files` (copies, in origin file order), the origin file each copy stands for, how many
    records they hold, and one line per origin file that cannot be re-read (changed, gone, not line-based)."""

    run_id: str
    files: list[str] = field(default_factory=list)
    renamed_origins: dict[str, str] = field(default_factory=dict)
    records: int = 0
    refused: list[str] = field(default_factory=list)
    without_origin: int = 0


def prepare_retry(history: RejectHistory, command: str, run_ref: str, folder: Path) -> RetryInputs:
    """The copies, written under `folder`, of the origin files of the rejects of run `run_ref` of `command`.
    ConfigError (exit 2) when the run has no rejects of this command or none of its records can be re-read."""
    run = history.run(run_ref)
    if run is None:
        raise ConfigError(f"--retry-rejects {run_ref}: no run with that id wrote rejects",
                          hint="'segmarketo rejects list' shows the runs that did")
    if run.command != command:
        raise ConfigError(f"--retry-rejects {run.run_id}: that run was {run.command}, not {command}",
                          hint=f"segmarketo {run.command} --retry-rejects {run.run_id}")
    retry = RetryInputs(run.run_id)
    recorded = history.origins(run.run_id)
    with closing(sqlite3.connect(folder / "origins.sqlite", isolation_level=None)) as index:
        index.execute("CREATE TABLE lines (name TEXT NOT NULL, line INTEGER NOT NULL, PRIMARY KEY (name, line)) "
                      "WITHOUT ROWID")
        retry.without_origin = _index_origins(Path(run.path), index)
        per_file = index.execute("SELECT name, count(*) FROM lines GROUP BY name ORDER BY name").fetchall()
        for number, (name, count) in enumerate(per_file, start=1):
            name, count = str(name), int(count)
            problem = _origin_problem(name, recorded.get(name), run.run_id)
            if problem is None:
                copy = _copy_lines(recorded[name], index, name, folder / f"{number:04d}", count)
                if isinstance(copy, str):
                    problem = copy
                else:
                    retry.files.append(str(copy))
                    retry.renamed_origins[str(copy)] = name
                    retry.records += count
            if problem is not None:
                retry.refused.append(f"{problem}; its {count:,} rejected record(s) are not retried")
    if not retry.files:
        raise ConfigError(f"--retry-rejects {run.run_id}: no rejected record can be re-read from its origin",
                          hint="; ".join(retry.refused) or "the rejects name no file:line origin")
    return retry


def _index_origins(rejects_file: Path, index: sqlite3.Connection) -> int:
    """Every file:line origin of the rejects file into `index`; the number of rejects without one."""
    without = 0
    batch: list[tuple[str, int]] = []
    try:
        with rejects_file.open("r", encoding="utf-8") as handle:
            for text in handle:
                origin = _origin(text)
                name = origin_file(origin)
                if name is None:
                    without += 1
                    continue
                batch.append((name, int(str(origin)[len(name) + 1:])))
                if len(batch) >= _BATCH:
                    index.executemany("INSERT OR IGNORE INTO lines VALUES (?, ?)", batch)
                    batch = []
    except OSError as exc:
        raise ConfigError(f"--retry-rejects: the rejects file {rejects_file} cannot be read: "
                          f"{exc.strerror or exc}") from None
    index.executemany("INSERT OR IGNORE INTO lines VALUES (?, ?)", batch)
    return without


def _origin(text: str) -> object:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record.get("origin") if isinstance(record, dict) else None


def _origin_problem(name: str, recorded: OriginRow | None, run_id: str) -> str | None:
    """Why the origin file cannot be re-read as run `run_id` read it, or None."""
    if recorded is None:
        return f"{name}: run {run_id} did not record this file"
    path = Path(recorded[1])
    try:
        now = stat_file(path)
    except InputError:
        return f"{name}: gone since run {run_id}"
    if (now.size, now.mtime_ns) != recorded[2:4] or content_digest(now.path) != recorded[4]:
        return f"{name}: changed since run {run_id} (size, modification time or content differ)"
    return None


def _copy_lines(recorded: OriginRow, index: sqlite3.Connection, name: str, stem: Path, count: int) -> Path | str:
    """The copy of the origin file holding only its indexed lines (a CSV keeps its header), or why it cannot be."""
    source = inspect(Path(recorded[1]))
    if source.format not in LINE_FORMATS:
        return f"{name}: a {source.format} file; only JSON-lines and CSV records can be re-read by line"
    target = stem.with_name(f"{stem.name}.{source.format}")
    wanted = (int(row[0]) for row in index.execute("SELECT line FROM lines WHERE name = ? ORDER BY line", (name,)))
    with (gzip.open(source.path, "rb") if source.gzipped else source.path.open("rb")) as reader, \
            target.open("wb") as writer:
        write_lines(reader, writer, wanted, keep_header=source.format == "csv")
    return target


def write_lines(reader: Iterable[bytes], writer: IO[bytes], wanted: Iterator[int], *, keep_header: bool) -> None:
    """Copy the wanted lines (a CSV row's continuation lines too), a blank line for each other, up to the last."""
    following = next(wanted, None)
    open_quotes = False  # inside a quoted CSV cell that goes on to the next line
    for number, line in enumerate(reader, start=1):
        if following is None and not open_quotes:
            return
        copying = open_quotes or number == following or (keep_header and number == 1)
        if number == following:
            following = next(wanted, None)
        if copying:
            writer.write(line if line.endswith(b"\n") else line + b"\n")
            open_quotes = keep_header and (open_quotes != (line.count(b'"') % 2 == 1))
        else:
            writer.write(b"\n")
