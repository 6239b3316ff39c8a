"""Input readers: Segment exports (JSONL/.gz, JSON, CSV, Parquet) -> a stream of SourceItem messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.csvfile import CsvFile
from segmarketo_cli.sources.discover import SPREADSHEETS, InputFile, expand, inspect
from segmarketo_cli.sources.items import FORMATS, SourceItem
from segmarketo_cli.sources.jsonlines import read_json_array, read_jsonl
from segmarketo_cli.sources.meter import METER
from segmarketo_cli.sources.tabular import read_csv, read_parquet

__all__ = ["FORMATS", "InputFile", "SourceItem", "preflight", "read_all", "read_file"]


def preflight(patterns: list[str], forced: str | None = None) -> list[InputFile]:
    """Every input file, checked readable before any write; an empty expansion is an error too.

    A CSV file's header is read here, so an empty file or a column named twice stops the run before it starts.
    """
    files = [inspect(path, forced) for path in expand(patterns)]
    if not files:
        raise InputError(f"{', '.join(patterns)}: no input files found")
    for source in files:
        if source.format in SPREADSHEETS:
            raise InputError(f"{source.path}: spreadsheets are audience files for sync-audience",
                             hint="save the sheet as CSV to use it here")
        if source.format == "csv":
            with CsvFile(source):
                pass
    return files


def read_file(source: InputFile, keep: Callable[[bytes], bool] | None = None) -> Iterator[SourceItem]:
    """Items of one checked input file, in file order. `keep` (JSONL only) lets unusable lines skip parsing."""
    if source.format == "jsonl":
        return read_jsonl(source, keep)
    if source.format == "json":
        return read_json_array(source)
    if source.format == "csv":
        return read_csv(source)
    return read_parquet(source)


def read_all(sources: Iterable[InputFile], keep: Callable[[bytes], bool] | None = None) -> Iterator[SourceItem]:
    """Items of every file in order (files in the stable order `preflight` returned them), the bytes read measured
    by `METER` for the progress bar."""
    files = list(sources)
    with METER.reading([source.path for source in files]):
        for source in files:
            with METER.file(source.path):
                yield from read_file(source, keep)
