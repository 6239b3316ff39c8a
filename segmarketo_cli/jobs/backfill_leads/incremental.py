"""backfill-leads reruns that read only the new files: the people those files touch, rebuilt from the people store
and the new messages with the same identity code as a full read (docs/backfill-leads.md, "Reruns on unchanged
input")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from segmarketo_cli.identity import IdentityGraph, Person
from segmarketo_cli.jobs.backfill_leads.people_store import Meta, PeopleStore, Update
from segmarketo_cli.jobs.backfill_leads.records import Staged, load_record
from segmarketo_cli.jobs.unchanged_inputs import InputCheck


def why_full_read(check: InputCheck, meta: Meta | None, key: str) -> str | None:
    """Why a rerun whose input changed must read every file (None: the new files alone will do)."""
    if check.modified or check.removed:
        return "a file run R read was changed or is no longer given"
    if meta is None or meta.run_id != check.since_run:
        return "no people store from run R"
    if meta.plan_key != key:
        return "the people store was written under another plan key"
    if check.paths[:len(meta.files)] != meta.files:
        return "a new file comes before a file run R read in the input order (not an append)"
    return None


class _UnionFind:
    """Union-find over node names and stored components ('c:<id>')."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self.parent
        root = item
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[item] != root:
            parent[item], item = root, parent[item]
        return root

    def union(self, items: list[str]) -> str:
        first = self.find(items[0])
        for item in items[1:]:
            other = self.find(item)
            if other != first:
                self.parent[other] = first
        return first


@dataclass
class Delta:
    """The new files' messages placed in the people store's components: a stored component they touch keeps its
    smallest id (the others it merges with are `renamed` into it), a person seen only in the new files gets a new id."""

    store: PeopleStore
    meta: Meta
    records: list[Staged]
    component_of: list[int]  # the component of each new record
    renamed: dict[int, int]  # stored component -> the one it merges into
    new_nodes: dict[str, int]
    next_component: int
    touched: set[int]  # stored components the new messages touch (before renaming)
    extra: set[int] = field(default_factory=set)  # unaffected stored components replanned for a shared key
    people: list[Person] = field(default_factory=list)  # people order: first identify first
    components: list[int] = field(default_factory=list)  # each person's component

    @property
    def stored(self) -> set[int]:
        """Every stored component this run replays."""
        return self.touched | self.extra

    def not_affected(self) -> int:
        return self.store.people_count() - self.store.people_count(self.stored)


def place(store: PeopleStore, meta: Meta, records: list[Staged]) -> Delta:
    """Find the components the new `records` touch, by their node names, and merge them as the whole input would."""
    known = store.components_of({node for record in records for node in record[2]})
    sets = _UnionFind()
    for _, _, nodes, _ in records:
        sets.union([*nodes, *(f"c:{known[node]}" for node in nodes if node in known)])
    stored_of_root: dict[str, set[int]] = {}
    for node, component in known.items():
        stored_of_root.setdefault(sets.find(node), set()).add(component)
    roots = [sets.find(record[2][0]) for record in records]
    final: dict[str, int] = {}
    next_component = meta.next_component
    for root in dict.fromkeys(roots):
        stored = stored_of_root.get(root)
        if stored:
            final[root] = min(stored)
        else:
            final[root] = next_component
            next_component += 1
    renamed = {c: final[root] for root, stored in stored_of_root.items() for c in stored if c != final[root]}
    new_nodes = {node: final[sets.find(node)] for _, _, nodes, _ in records for node in nodes if node not in known}
    return Delta(store, meta, records, [final[root] for root in roots], renamed, new_nodes, next_component,
                 set(known.values()))


def rebuild_people(delta: Delta, *, nulls: str) -> None:
    """Each affected person replayed from their stored and new messages, in input order with their own numbers,
    into a graph of their own (as replay.py does): the same Person a full read builds."""
    messages: dict[int, list[tuple[int | None, bytes]]] = {}
    for component, _, fold_seq, body in delta.store.messages_of(delta.stored):
        messages.setdefault(delta.renamed.get(component, component), []).append((fold_seq, body))
    for (_, fold_seq, _, body), component in zip(delta.records, delta.component_of, strict=True):
        messages.setdefault(component, []).append((fold_seq, body))  # new seqs follow every stored one
    people: list[tuple[Person, int]] = []
    for component, rows in messages.items():
        graph = IdentityGraph(nulls=nulls)
        for fold_seq, body in rows:
            origin, links, traits, ts = load_record(body)
            graph.add_links(links, traits, ts, origin, fold_seq)
        people.extend((person, component) for person in graph.people(consume=True))
    people.sort(key=lambda pair: pair[0].first_seq)
    delta.people = [person for person, _ in people]
    delta.components = [component for _, component in people]


def add_key_holders(delta: Delta, keys: Iterable[str | None]) -> bool:
    """Add the unaffected stored people holding one of `keys` (the affected people's keys as planned), so the
    first person of a key keeps it as in a full read; True when some were added (the people must be rebuilt and
    planned again)."""
    replayed = delta.stored | set(delta.renamed.values())
    holders = set(delta.store.key_holders([key for key in keys if key], exclude=replayed))
    holders -= delta.extra
    delta.extra |= holders
    return bool(holders)


def update(delta: Delta, run_id: str, files: tuple[str, ...], keys: Iterable[str | None]) -> Update:
    """What the store learns from this run once it ended ok: `files` every input in input order, `keys` the
    planned people's keys in people order."""
    meta = delta.meta
    last_seq = delta.records[-1][0] if delta.records else meta.last_seq
    folds = [record[1] for record in delta.records if record[1] is not None]
    new_meta = Meta(run_id, meta.plan_key, files, last_seq, folds[-1] if folds else meta.last_fold,
                    delta.next_component)
    return Update(
        meta=new_meta,
        messages=[(seq, component, fold_seq, body)
                  for (seq, fold_seq, _, body), component in zip(delta.records, delta.component_of, strict=True)],
        renamed=delta.renamed, new_nodes=delta.new_nodes,
        people=list(zip(delta.components, keys, strict=True)), dropped_people=sorted(delta.stored))
