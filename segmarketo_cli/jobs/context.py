"""JobContext: what `run(ctx, prepared)` of every job gets from the frame that runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.state.change_log import ChangeWriter, discard_writer

if TYPE_CHECKING:
    from segmarketo_cli.config import Settings
    from segmarketo_cli.engine import Engine
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.segment.sender import BatchSender
    from segmarketo_cli.state import StateStore


class ProgressBar:
    """The part of a tqdm bar a job uses; also the silent bar when nobody watches."""

    def update(self, n: int = 1) -> None:
        """Count `n` more items done."""

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _no_progress(total: int | None, desc: str, unit: str = "rec") -> ProgressBar:
    return ProgressBar()


def _discard(value: Any) -> None:
    return None


@dataclass
class JobContext:
    """The run's services, report and rejects file, plus the three ways a job shows things while it runs:
    `progress(total, desc, unit)` bars on stderr (with total None, a count plus the percentage of the input files
    read), `out` lines on stdout (dry-run events), `show_plan` for a dry run's plan (a no-op unless the user asked
    for the human-readable dry run). Waits are named with `segmarketo_cli.waits.waiting`, not through the bars."""

    services: Services
    report: RunReport
    rejects: RejectsWriter
    progress: Callable[..., Any] = _no_progress
    out: Callable[[str], None] = _discard
    show_plan: Callable[[Any], None] = _discard
    sleep: Callable[[float], None] = time.sleep  # waits between bulk job status polls (tests pass a fake clock's)
    extra: dict[str, Any] = field(default_factory=dict)
    changes: ChangeWriter = field(default_factory=discard_writer)  # the run's change log; dry runs record nothing

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def store(self) -> StateStore:
        return self.services.store

    def marketo(self) -> MarketoClient:
        return self.services.marketo()

    def segment(self) -> BatchSender:
        return self.services.segment()

    def engine(self) -> Engine:
        return self.services.engine()
