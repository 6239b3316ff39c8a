"""SyncSession: what every step of one sync-audience run shares (client, list, report, flags)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from segmarketo_cli.jobs.batches import chunks
from segmarketo_cli.marketo.base import MAX_BATCH

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
    profile from here, and record what they learn about the list: its id, label, new folder, current members."""

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
    current: set[int] = field(default_factory=set)  # lead ids in the list when the run read it

    @property
    def instance(self) -> str:
        return self.client.instance

    def field_for(self, kind: str) -> str | None:
        """The Marketo field that holds an identity of `kind` (None: it cannot be looked up)."""
        return "email" if kind == "email" else (self.profile.user_id_field if kind == "userId" else None)

    def batches(self, items: Sequence[T]) -> list[Sequence[T]]:
        """`items` in call-sized batches."""
        return list(chunks(items, CALL_SIZE))
