"""What write-back looks up in Marketo: activity type ids by name, campaign names, and lead identities."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import ConfigError, MarketoError
from segmarketo_cli.jobs.batches import chunks
from segmarketo_cli.jobs.writeback.events import LeadIdentity
from segmarketo_cli.jobs.writeback.keyset import Connect, KeyTable, engine_or_private
from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.state import StateStore

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

log = logging.getLogger("segmarketo.writeback")

CACHE_TTL_S = 86_400  # activity types and campaigns: about a day (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/marketo-integration-best-practices)
TYPES_KEY = "writeback:activity-types"
CAMPAIGNS_KEY = "writeback:campaign-names"
SUBJECTS_KEY = "writeback:email-subjects"
ASSET_PAGE = 200  # maxReturn limit of asset queries


def activity_types(client: MarketoClient, store: StateStore, *, refresh: bool = False) -> dict[int, str]:
    """Activity type id -> name from types.json, cached a day in the state store."""
    cached = None if refresh else store.cache_get(client.instance, TYPES_KEY)
    if cached is None:
        rows = client.get_activity_types()
        cached = {str(row["id"]): str(row["name"]) for row in rows if row.get("id") is not None and row.get("name")}
        store.cache_put(client.instance, TYPES_KEY, cached, CACHE_TTL_S)
    return {int(type_id): name for type_id, name in cached.items()}


def resolve_type_ids(
    client: MarketoClient,
    store: StateStore,
    events: Mapping[str, str],
    explicit: Iterable[str],
) -> tuple[dict[int, str], list[str]]:
    """Ids of the mapped types (id -> Marketo's spelling of the name) and the default names Marketo lacks.

    A name the user asked for (`explicit`) that Marketo does not know is a ConfigError; the cache is refreshed
    once before deciding, so a type created today is found.
    """
    wanted = {name.lower(): name for name in events}
    explicit_lower = {name.strip().lower() for name in explicit}
    for refresh in (False, True):
        types = activity_types(client, store, refresh=refresh)
        found = {type_id: name for type_id, name in types.items() if name.lower() in wanted}
        missing = sorted(set(wanted) - {name.lower() for name in found.values()})
        if not missing:
            break
    unknown = [wanted[name] for name in missing if name in explicit_lower]
    if unknown:
        raise ConfigError(
            f"activity type(s) not found in Marketo: {', '.join(unknown)} "
            f"(check the spelling in --activity-types / [writeback.events]; 'segmarketo doctor' lists types)"
        )
    if not found:
        raise ConfigError("none of the activity types to write back exist in this Marketo instance")
    return found, [wanted[name] for name in missing]


class AssetNames:
    """Asset id -> text (campaign names, e-mail subjects), cached a day; when an unknown id shows up the list is
    read again, at most once per run (never when this run already read it)."""

    def __init__(self, client: MarketoClient, store: StateStore, key: str,
                 loader: Callable[[MarketoClient], dict[int, str]]) -> None:
        self.client = client
        self.store = store
        self.key = key
        self.loader = loader
        self._names: dict[int, str] | None = None
        self._fetched = False

    def _load(self, refresh: bool) -> dict[int, str]:
        cached = None if refresh else self.store.cache_get(self.client.instance, self.key)
        if cached is None:
            cached = {str(k): v for k, v in self.loader(self.client).items() if v}
            self.store.cache_put(self.client.instance, self.key, cached, CACHE_TTL_S)
            self._fetched = True
        return {int(k): v for k, v in cached.items()}

    @property
    def names(self) -> dict[int, str]:
        if self._names is None:
            self._names = self._load(refresh=False)
        return self._names

    def ensure(self, ids: Iterable[int | None]) -> None:
        """Make sure these ids are known, if Marketo knows them."""
        known = self.names
        if self._fetched or all(i is None or i in known for i in ids):
            return
        self._names = self._load(refresh=True)


def campaign_names(client: MarketoClient) -> dict[int, str]:
    """Smart campaign id -> name (Get Campaigns, paged)."""
    return {int(row["id"]): str(row.get("name") or "") for row in client.get_campaigns() if row.get("id") is not None}


def email_subjects(client: MarketoClient) -> dict[int, str]:
    """E-mail asset id -> subject line (Get Emails, 200 per call), when the subject is plain text.

    Needs the Read-Only Assets permission; without it (603) subjects are simply not known.
    """
    subjects: dict[int, str] = {}
    offset = 0
    while True:
        try:
            page = client.envelope("GET", "/rest/asset/v1/emails.json",
                                   params={"maxReturn": ASSET_PAGE, "offset": offset}).result
        except MarketoError as exc:
            if exc.code != "603":
                raise
            log.warning("e-mail subjects are not readable (%s); events go without email_subject", exc)
            return subjects
        for row in page:
            subject = row.get("subject")
            if isinstance(subject, dict):
                subject = subject.get("value") if subject.get("type", "Text") == "Text" else None
            if row.get("id") is not None and isinstance(subject, str) and subject:
                subjects[int(row["id"])] = subject
        if len(page) < ASSET_PAGE:
            return subjects
        offset += ASSET_PAGE


class LeadDirectory:
    """Lead id -> LeadIdentity (email, userId field) via Get Leads by Filter on id, 300 per call, kept per run.

    Deliberately not cached across runs: a lead's userId appears when the person is identified, and the next
    run should use it. Every lead looked up is kept in a KeyTable (past its first 50,000, in a table of the run's
    engine, which `con` opens); a bounded cache holds the identities in use, and `load` fills it for a chunk of
    activities with one query.
    Thread-safe: page readers `prefetch` the ids they see, and whichever thread gathers a full call's worth of
    unknown ids looks them up, so lookups overlap page reads instead of waiting for them.
    """

    per_call = MAX_BATCH  # ids per Get Leads by Filter call
    cache_size = 50_000  # identities held in Python; past it, `load` starts the cache afresh

    def __init__(self, client: MarketoClient, user_id_field: str | None,
                 con: Connect | None = None) -> None:
        self.client = client
        self.user_id_field = user_id_field
        self.fields = ["id", "email"] + ([user_id_field] if user_id_field and user_id_field != "email" else [])
        self._table = KeyTable(engine_or_private(con), "writeback_leads", "BIGINT",
                               [("found", "BOOLEAN"), ("email", "VARCHAR"), ("user_id", "VARCHAR")])
        self._cache: dict[int, LeadIdentity | None] = {}  # looked up: the identity, or None when Marketo has none
        self._lock = threading.Lock()
        self._queued: dict[int, None] = {}  # seen by a reader, not looked up yet
        self._in_flight: dict[int, threading.Event] = {}

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, lead_id: int) -> bool:
        """Looked up already; exact for the ids of the last `load` and those looked up since."""
        return lead_id in self._cache

    def get(self, lead_id: int) -> LeadIdentity | None:
        return self._cache.get(lead_id)

    def load(self, lead_ids: Iterable[int]) -> None:
        """Bring the identities of these ids, where looked up before, into the cache (one query for the chunk)."""
        with self._lock:
            if len(self._cache) > self.cache_size:
                self._cache.clear()
            self._unknown(lead_ids)

    def prefetch(self, lead_ids: Iterable[int]) -> None:
        """Queue ids a reader has seen; look up a full call's worth (300) here, on the caller's thread."""
        with self._lock:
            for lead_id in self._unknown(lead_ids):
                if lead_id not in self._in_flight:
                    self._queued[lead_id] = None
            if len(self._queued) < self.per_call:
                return
            chunk = self._claim(list(self._queued)[:self.per_call])
        self._lookup(chunk)

    def fetch(self, lead_ids: Iterable[int]) -> None:
        """Look up the ids not known yet (leads Marketo does not return are remembered as None); ids another
        thread is looking up are waited for."""
        with self._lock:
            wanted = self._unknown(lead_ids)
            waits = [self._in_flight[i] for i in wanted if i in self._in_flight]
            own = [i for i in wanted if i not in self._in_flight]
            if own:  # fill the last call with ids readers have queued: every lookup call carries 300 ids
                taken = set(own)
                own += [i for i in self._queued if i not in taken][: -len(own) % self.per_call]
            mine = self._claim(own)
        for chunk in chunks(mine, self.per_call):
            self._lookup(list(chunk))
        for done in dict.fromkeys(waits):
            done.wait()
        missing = [i for i in wanted if i not in self._cache]
        if missing:  # another thread's lookup failed: its ids are ours to look up now
            self.fetch(missing)

    def _unknown(self, lead_ids: Iterable[int]) -> list[int]:
        """The ids never looked up in this run, once each; the others are brought into the cache (lock held)."""
        absent = [i for i in dict.fromkeys(lead_ids) if i not in self._cache]
        stored = self._table.lookup(absent)
        for lead_id, (found, email, user_id) in stored.items():
            self._cache[lead_id] = LeadIdentity(lead_id, email, user_id) if found else None
        return [i for i in absent if i not in stored]

    def _claim(self, ids: list[int]) -> list[int]:
        """Mark ids as being looked up by the calling thread (lock held)."""
        done = threading.Event()
        for lead_id in ids:
            self._queued.pop(lead_id, None)
            self._in_flight[lead_id] = done
        return ids

    def _lookup(self, chunk: list[int]) -> None:
        try:
            if chunk:
                rows = self.client.get_leads_by_filter("id", chunk, self.fields)
                found = {int(row["id"]): row for row in rows if row.get("id") is not None}
                with self._lock:
                    for lead_id in chunk:
                        row = found.get(lead_id)
                        identity = None if row is None else self._identity(lead_id, row)
                        self._cache[lead_id] = identity
                        if identity is None:
                            self._table.add(lead_id, False, None, None)
                        else:
                            self._table.add(lead_id, True, identity.email, identity.user_id)
        finally:
            with self._lock:
                events = {self._in_flight.pop(lead_id) for lead_id in chunk if lead_id in self._in_flight}
            for event in events:
                event.set()

    def _identity(self, lead_id: int, row: Mapping[str, Any]) -> LeadIdentity:
        email = row.get("email") or None
        user_id = row.get(self.user_id_field) if self.user_id_field else None
        return LeadIdentity(
            lead_id=lead_id,
            email=str(email) if email else None,
            user_id=str(user_id) if user_id not in (None, "") else None,
        )
