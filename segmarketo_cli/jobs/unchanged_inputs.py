"""Reruns that cost almost nothing: which input files are new or changed since the last successful run.

The contract (docs/state.md "Input history", docs/backfill-leads.md "Reruns on unchanged input"): before reading,
a job fingerprints its input files and compares them with those of the command's newest run that finished ok
under the same plan key (everything besides the files that shapes the plan). A run that ends ok records its
fingerprints; dry runs, partial, failed, deferred and interrupted runs never count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from segmarketo_cli import __version__
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import InputFile
from segmarketo_cli.sources.fingerprint import FileFingerprint, FileStat, content_digest, stat_file
from segmarketo_cli.state.input_history import InputHistory

Verdict = Literal["unchanged", "changed", "no_history"]
NoHistory = Literal["first run", "--full", "plan changed"]
KEY_FORMAT = 1  # bump when what goes into a plan key changes, so older keys stop matching
NOTE_NAMES = 5  # file names quoted in a note
DETAIL_NAMES = 100  # file names listed per kind in report.details["inputs"]


def plan_key(command: str, parts: Mapping[str, Any]) -> str:
    """The digest of everything besides the input files that shapes `command`'s plan: `parts` (JSON values; each
    job lists its own in one place, e.g. jobs/backfill_leads/plan_key.py) plus this segmarketo's version, since
    another release may plan the same input differently."""
    blob = json.dumps({"command": command, "key_format": KEY_FORMAT, "version": __version__, "parts": parts},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class InputCheck:
    """The answer for one run: every input `unchanged` since run `since_run`, some `changed` (then `new`,
    `modified` and `removed` say which), or `no_history` (`why`: first run, --full, or the plan key differs from
    run `since_run`'s). Paths are resolved. `fingerprints` (every input, digests included; empty for a dry run,
    which never records) are what `record_inputs` keeps when the run ends ok."""

    command: str
    plan_key: str
    verdict: Verdict
    inputs: tuple[InputFile, ...]
    since_run: str | None = None
    why: NoHistory | None = None
    new: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    touched: int = 0  # unchanged files whose mtime moved (same size and bytes)
    fingerprints: tuple[FileFingerprint, ...] = ()
    to_read: tuple[InputFile, ...] = ()
    paths: tuple[str, ...] = ()  # every input's resolved path, in input order

    @property
    def skip_all(self) -> bool:
        """Nothing to read: every input is the same file, with the same bytes, as run `since_run` read."""
        return self.verdict == "unchanged"


class _Digests:
    """Content digests computed at most once per file, only when something asks for them."""

    def __init__(self) -> None:
        self._found: dict[str, str] = {}

    def of(self, stat: FileStat) -> str:
        if stat.path not in self._found:
            self._found[stat.path] = content_digest(stat.path)
        return self._found[stat.path]


def check_inputs(history: InputHistory, command: str, inputs: Sequence[InputFile], key: str, *, full: bool,
                 dry_run: bool) -> InputCheck:
    """Compare `inputs` (checked by `sources.preflight`) with `command`'s last successful run; call it before
    reading anything. A file of another size is changed without being read; a file of the same size is hashed, so
    a file touched but identical is unchanged and a same-size edit is changed. A real run hashes every input here,
    before reading it: what it records must describe the bytes it is about to read, never bytes written later."""
    stats = [stat_file(source.path) for source in inputs]
    digests = _Digests()
    last = None if full else history.last(command)
    fingerprints = () if dry_run else tuple(FileFingerprint(*stat, digests.of(stat)) for stat in stats)
    read_all = InputCheck(command, key, "no_history", tuple(inputs), fingerprints=fingerprints, to_read=tuple(inputs),
                          paths=tuple(stat.path for stat in stats))
    if last is None or last.plan_key != key:
        why: NoHistory = "--full" if full else "first run" if last is None else "plan changed"
        return replace(read_all, since_run=last.run_id if last else None, why=why)
    before = {path: (size, digest) for path, size, _, digest in last.files}
    mtimes = {path: mtime for path, _, mtime, _ in last.files}
    new: list[str] = []
    modified: list[str] = []
    same: list[str] = []
    to_read: list[InputFile] = []
    touched = 0
    for source, stat in zip(inputs, stats, strict=True):
        seen = before.get(stat.path)
        if seen is None:
            new.append(stat.path)
        elif seen[0] != stat.size or seen[1] != digests.of(stat):
            modified.append(stat.path)
        else:
            same.append(stat.path)
            touched += mtimes[stat.path] != stat.mtime_ns
            continue
        to_read.append(source)
    current = {stat.path for stat in stats}
    removed = tuple(path for path in before if path not in current)
    verdict: Verdict = "changed" if new or modified or removed else "unchanged"
    return replace(read_all, verdict=verdict, since_run=last.run_id, new=tuple(new), modified=tuple(modified),
                   removed=removed, unchanged=tuple(same), touched=touched, to_read=tuple(to_read))


def record_inputs(history: InputHistory, report: RunReport, check: InputCheck) -> bool:
    """Remember the run's input fingerprints as its last step; True when recorded. Nothing is recorded for a dry
    run, a run whose report is not ok or whose buckets do not add up, or a run that skipped everything (the run
    it names stays the one that did the work). The record counts only once the run is stored as finished ok
    (state.input_history)."""
    if report.dry_run or report.status != "ok" or report.imbalances() or check.skip_all or not check.fingerprints:
        return False
    history.record(report.run_id, check.command, check.plan_key, check.fingerprints)
    return True


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _names(paths: Sequence[str]) -> str:
    return ", ".join(paths[:NOTE_NAMES]) + (f" and {len(paths) - NOTE_NAMES} more" if len(paths) > NOTE_NAMES else "")


def unchanged_note(check: InputCheck) -> str:
    """The one line a run that skipped everything shows."""
    n = len(check.unchanged)
    if check.touched:
        how = f"{_files(n)}, same size and content; {check.touched} touched since, bytes identical"
    else:
        how = f"{_files(n)}, same size, time and content"
    return f"input unchanged since run {check.since_run} ({how}): nothing to do; --full re-plans everything"


def changed_note(check: InputCheck, *, reads_all: bool) -> str:
    """What changed since the last successful run, and what this run reads because of it."""
    parts = []
    if check.new:
        parts.append(f"new: {_names(check.new)}")
    if check.modified:
        parts.append(f"changed: {_names(check.modified)}")
    if check.removed:
        parts.append(f"no longer given: {_names(check.removed)}")
    what = "; ".join(parts)
    if reads_all:
        return (f"input changed since run {check.since_run} ({what}): every file read again, since identity and "
                "merged traits need the older files too")
    return (f"input changed since run {check.since_run} ({what}): only the new and changed files read; the "
            f"{_files(len(check.unchanged))} unchanged were fully applied by run {check.since_run}")


def report_input_check(report: RunReport, check: InputCheck, *, reads_all: bool = True) -> None:
    """Say in the report what the check found. `reads_all`: whether the job reads every file when some changed
    (backfill-leads) or only `check.to_read` (apply-events). A first run or --full adds nothing; a plan key that
    changed adds a note, so the user knows why a rerun cost a full read."""
    if check.skip_all:
        report.notes.append(unchanged_note(check))
        report.details["inputs"] = {"unchanged": len(check.unchanged), "run": check.since_run}
    elif check.verdict == "changed":
        report.notes.append(changed_note(check, reads_all=reads_all))
        report.details["inputs"] = {
            "run": check.since_run, "unchanged": len(check.unchanged),
            "new": list(check.new[:DETAIL_NAMES]), "changed": list(check.modified[:DETAIL_NAMES]),
            "removed": list(check.removed[:DETAIL_NAMES]),
        }
    elif check.why == "plan changed":
        report.notes.append(f"every input file read: what shapes the plan (flags, mapping, [fields], partition, "
                            f"Marketo fields or segmarketo version) changed since run {check.since_run}")
