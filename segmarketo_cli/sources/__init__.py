"""Input readers: Segment exports (JSONL/.gz, JSON, CSV, Parquet) -> a stream of SourceItem messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from segmarketo_cli.sources.discover import InputFile, expand, inspect, preflight
from segmarketo_cli.sources.items import FORMATS, SKIPPED, SourceItem

__all__ = ["FORMATS", "SKIPPED", "InputFile", "SourceItem", "expand", "inspect", "preflight", "read_file",
           "read_all"]


def read_file(source: InputFile, keep: Callable[[bytes], bool] | None = None) -> Iterator[SourceItem]:
    """Items of one checked input file, in file order. `keep` (JSONL only) lets unusable lines skip parsing."""
    if source.format == "jsonl":
        from segmarketo_cli.sources.jsonlines import read_jsonl

        return read_jsonl(source, keep)
    if source.format == "json":
        from segmarketo_cli.sources.jsonlines import read_json_array

        return read_json_array(source)
    if source.format == "csv":
        from segmarketo_cli.sources.tabular import read_csv

        return read_csv(source)
    from segmarketo_cli.sources.tabular import read_parquet

    return read_parquet(source)


def read_all(sources: Iterable[InputFile], keep: Callable[[bytes], bool] | None = None) -> Iterator[SourceItem]:
    """Items of every file in order (files in the stable order `preflight` returned them)."""
    for source in sources:
        yield from read_file(source, keep)
