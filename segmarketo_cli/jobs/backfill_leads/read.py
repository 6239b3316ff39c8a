"""backfill-leads input: identify and alias messages read into people (in memory or on the engine), every message
counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from segmarketo_cli.identity import IdentityGraph, Person
from segmarketo_cli.jobs.backfill_leads.messages import MESSAGE_BUCKETS, might_matter, take_item
from segmarketo_cli.jobs.backfill_leads.records import Recorder, Staged, Tee
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import InputFile, read_all

if TYPE_CHECKING:
    from segmarketo_cli.engine import Engine

PROGRESS_STEP = 10_000


def read_people(inputs: list[InputFile], *, nulls: str, report: RunReport, rejects: RejectsWriter,
                progress: Callable[..., Any], engine: Engine | None, on_engine: bool,
                tee: Tee | None = None, columnar: bool = False) -> Iterator[Person]:
    """Read every message of `inputs` now, each one counted used, ignored or malformed (malformed ones go to the
    rejects file with their origin) and details["people"] set; then the people one by one, first identify first.

    With `on_engine` False (the caller's `uses_engine` found the input small) the identity graph is built in
    memory; with it True the messages are staged in `engine` and each person is rebuilt from their own
    messages. Both give the same people in the same order (docs/engine.md, "backfill-leads"). Without `engine`
    the graph is built in memory, and DuckDB never loads. `tee`, when given, also gets every staged record (the
    people store a successful run leaves for the next one). With `columnar` (JSON-lines inputs only) and an
    engine, DuckDB reads the files and merges their plain identifies (columnar.py); a file it cannot read sends
    the whole input down the other paths.
    """
    if columnar and engine is not None:
        from segmarketo_cli.jobs.backfill_leads.columnar import read_columnar

        people = read_columnar(inputs, nulls=nulls, report=report, rejects=rejects, progress=progress,
                               engine=engine, tee=tee)
        if people is not None:
            return people
    graph = IdentityGraph(nulls=nulls)
    if engine is None or not on_engine:
        add = graph.add if tee is None else Recorder(graph.links, tee, graph=graph).add
        _read(inputs, add, report=report, rejects=rejects, progress=progress)
        report.details["people"] = len(graph)
        return graph.people(consume=True)
    from segmarketo_cli.jobs.backfill_leads.components import label_components
    from segmarketo_cli.jobs.backfill_leads.replay import replay_people
    from segmarketo_cli.jobs.backfill_leads.staging import MessageStage

    stage = MessageStage(engine, graph.links, tee=tee)
    _read(inputs, stage.add, report=report, rejects=rejects, progress=progress)
    stage.close()
    report.details["people"] = label_components(engine.con)
    return replay_people(engine, nulls=nulls)


def read_records(inputs: list[InputFile], *, seq: int, fold: int, report: RunReport, rejects: RejectsWriter,
                 progress: Callable[..., Any]) -> list[Staged]:
    """Every message of `inputs` counted as read_people counts it; those touching a person come back as staged
    records numbered on from `seq` and `fold` (an incremental rerun's new files, read after the stored ones)."""
    records: list[Staged] = []
    recorder = Recorder(IdentityGraph().links, lambda *row: records.append(row))
    recorder.seq, recorder.fold = seq, fold
    _read(inputs, recorder.add, report=report, rejects=rejects, progress=progress)
    return records


def _read(inputs: list[InputFile], add: Callable[[dict[str, Any], str], bool], *, report: RunReport,
          rejects: RejectsWriter, progress: Callable[..., Any]) -> None:
    """Every message of `inputs` handed to `add` (True: used, False: ignored), malformed ones rejected."""
    counts = dict.fromkeys(MESSAGE_BUCKETS, 0)
    with progress(None, "reading", unit="msg") as bar:
        for item in read_all(inputs, keep=might_matter):
            take_item(item, add, counts, rejects)
            if counts["messages_read"] % PROGRESS_STEP == 0:
                bar.update(PROGRESS_STEP)
    for bucket, n in counts.items():
        report.add(bucket, n)
