"""SyncSession: what every step of one sync-audience run shares (client, list, report, flags)."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from segmarketo_cli.jobs.batches import batches
from segmarketo_cli.jobs.sync_audience.tables import BATCH_ROWS
from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.state.change_log import ChangeWriter, discard_writer

if TYPE_CHECKING:
    from segmarketo_cli.jobs.rejects import RejectsWriter
    from segmarketo_cli.jobs.report import RunReport
    from segmarketo_cli.jobs.sync_audience.prepare import AudienceProfile, SyncOptions
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.marketo.lists import ListParent
    from segmarketo_cli.state import StateStore

T = TypeVar("T")

CALL_SIZE = MAX_BATCH  # ids or values per list, filter and createOnly call; tests lower it to make several calls


@dataclass
class SyncSession:
    """One run's shared state. The steps (locate, members, resolve, execute_*) read the client, flags and
    profile from here, and record what they learn about the list: its id, label, new folder, current members;
    the writes record what Marketo confirmed in the run's change log."""

    client: MarketoClient
    store: StateStore
    report: RunReport
    rejects: RejectsWriter
    options: SyncOptions
    profile: AudienceProfile
    mode: str
    progress: Callable[..., Any]
    sleep: Callable[[float], None]
    list_label: str
    list_id: int | None = None
    folder: ListParent | None = None  # where --create-list creates the list, when it does not exist yet
    current: Container[int] = field(default_factory=frozenset)  # lead ids in the list when the run read it
    changes: ChangeWriter = field(default_factory=discard_writer)  # what Marketo confirmed (dry runs: nothing)

    @property
    def instance(self) -> str:
        return self.client.instance

    def field_for(self, kind: str) -> str | None:
        """The Marketo field that holds an identity of `kind` (None: it cannot be looked up)."""
        return "email" if kind == "email" else (self.profile.user_id_field if kind == "userId" else None)

    def batches(self, items: Iterable[T]) -> list[list[T]]:
        """`items` in call-sized batches."""
        return list(batches(items, CALL_SIZE))

    def window(self) -> int:
        """How many values to take out of the engine at a time: whole call batches, about BATCH_ROWS."""
        return CALL_SIZE * max(1, BATCH_ROWS // CALL_SIZE)

    def windows(self, items: Iterable[T]) -> Iterator[list[T]]:
        """`items` a window at a time, each cut into the same call batches as the whole would be."""
        return batches(items, self.window())
