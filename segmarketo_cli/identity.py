"""Identity graph: merge the messages of one person (userId / anonymousId / email / alias) and their traits."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from segmarketo_cli.timeparse import message_time

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_MISSING_TS = float("-inf")
_INTERN_MAX = 40
_SHAPES_MAX = 4096
_FIRST_SEQ = attrgetter("first_seq")


def normalize_email(value: Any) -> str | None:
    """Trimmed, lower-cased address, or None when `value` is not an e-mail address (e.g. a SHA-256 digest)."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    # EMAIL_RE needs an '@', so a 64-hex SHA-256 digest (https://segment.com/docs/engage/audiences/) never passes.
    return email if EMAIL_RE.match(email) else None


def find_email(message: dict[str, Any], *, user_id_is_email: bool = False) -> str | None:
    """The first address found where Segment's spec puts one, in this order.

    (https://segment.com/docs/connections/spec/identify/, https://segment.com/docs/connections/spec/common/#context)
    A new place to look must also be searched by the columnar read's test for an identify with no address
    (jobs/backfill_leads/columnar.py, _NO_EMAIL), which leaves every such line with no `email` trait to SQL.
    """
    traits = message.get("traits")
    if isinstance(traits, dict):  # the usual case: an identify with traits.email
        email = normalize_email(traits.get("email"))
        if email:
            return email
    context: dict[str, Any] = message["context"] if isinstance(message.get("context"), dict) else {}
    candidates = [
        traits.get("email") if isinstance(traits, dict) else None,
        context.get("traits", {}).get("email") if isinstance(context.get("traits"), dict) else None,
        message["properties"].get("email") if isinstance(message.get("properties"), dict) else None,
    ]
    external_ids = context.get("externalIds")
    for ext in external_ids if isinstance(external_ids, list) else ():
        if isinstance(ext, dict) and str(ext.get("type", "")).lower() == "email":
            candidates.append(ext.get("id"))
    if user_id_is_email:
        candidates.append(message.get("userId"))
    for candidate in candidates:
        email = normalize_email(candidate)
        if email:
            return email
    return None


def marketo_cookie(message: dict[str, Any]) -> str | None:
    """context.Marketo.marketoCookie (the `_mkto_trk` value), as Segment's Marketo destination passes it."""
    context = message.get("context")
    marketo = context.get("Marketo") if isinstance(context, dict) else None
    cookie = marketo.get("marketoCookie") if isinstance(marketo, dict) else None
    return cookie.strip() if isinstance(cookie, str) and cookie.strip() else None


def flatten(traits: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """('address.city', 'Paris') pairs; an object becomes its leaves, an empty object or a list stays whole."""
    out: list[tuple[str, Any]] = []
    _flatten_into(out, traits, prefix)
    return out


def _flatten_into(out: list[tuple[str, Any]], traits: dict[str, Any], prefix: str) -> None:
    # Paths and short string values repeat across people ("address.city", "France"): interning them keeps
    # one copy per distinct string, which is most of the memory a person would otherwise take.
    intern = sys.intern
    for key, value in traits.items():
        if type(value) is dict and value:
            _flatten_into(out, value, f"{prefix}{key}.")
        else:
            path = intern(f"{prefix}{key}" if prefix else key)
            if type(value) is str and len(value) <= _INTERN_MAX:
                value = intern(value)
            out.append((path, value))


def walk(traits: dict[str, Any], email: str | None) -> tuple[list[str], list[Any]]:
    """A first identify's traits as (paths, values) in flattening order, nulls left out (nulls='keep'), and
    `email` (found elsewhere in the message, see find_email) put in, or the traits' own address trimmed and lower-cased.

    Assigning the pairs in order to an empty trait store gives what `_fold` would build from the message.
    """
    paths: list[str] = []
    values: list[Any] = []
    for key, value in traits.items():  # the top level and its objects inline: most traits are this deep
        if type(value) is not dict:
            if value is not None:
                paths.append(key)
                values.append(value)
        elif value:
            for sub, inner in value.items():
                if type(inner) is not dict:
                    if inner is not None:
                        paths.append(f"{key}.{sub}")
                        values.append(inner)
                elif inner:
                    _walk(paths, values, inner, f"{key}.{sub}.")
                else:
                    paths.append(f"{key}.{sub}")
                    values.append(inner)
        else:
            paths.append(key)
            values.append(value)
    own = traits.get("email")
    if email:
        if own is None or (type(own) is dict and own):  # not among the paths: the address goes last
            paths.append("email")
            values.append(email)
        else:
            values[paths.index("email")] = email
    elif type(own) is str:
        values[paths.index("email")] = own.strip().lower()
    return paths, values


def _walk(paths: list[str], values: list[Any], traits: dict[str, Any], prefix: str) -> None:
    for key, value in traits.items():
        if type(value) is dict and value:
            _walk(paths, values, value, f"{prefix}{key}.")
        elif value is not None:
            paths.append(f"{prefix}{key}")
            values.append(value)


@dataclass(slots=True)
class Trait:
    """One trait value and the message timestamp it came from (for latest-wins and newer_only)."""

    value: Any
    ts: float
    seq: int


@dataclass(slots=True)
class Person:
    """Everything known about one person after merging: traits (path -> Trait), ids, cookies, origins.

    A person's first traits object is kept as flat lists (`raw`: paths, values, ts, seq; see `walk`) and turned
    into Trait objects on first use of `traits`; the mapper reads `raw` directly, so the common one-identify
    person never builds them.
    """

    _traits: dict[str, Trait] = field(default_factory=dict)
    user_ids: list[str] = field(default_factory=list)
    anonymous_ids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)
    origin: str = ""
    identifies: int = 0
    first_seq: int = 0
    last_seen: float = _MISSING_TS
    latest_user: tuple[float, int, str] | None = None
    raw: tuple[tuple[str, ...], list[Any], float, int] | None = None

    @property
    def traits(self) -> dict[str, Trait]:
        if self.raw is not None:
            paths, values, ts, seq = self.raw
            self.raw = None
            store = self._traits
            intern = sys.intern
            for path, value in zip(paths, values, strict=True):
                if type(value) is str and len(value) <= _INTERN_MAX:
                    value = intern(value)
                store[intern(path)] = Trait(value, ts, seq)
        return self._traits

    def value(self, path: str) -> Any:
        trait = self.traits.get(path)
        return None if trait is None else trait.value

    @property
    def user_id(self) -> str | None:
        """The userId of the latest identify (by message timestamp) that carried one."""
        return self.latest_user[2] if self.latest_user else None

    def merge(self, other: Person) -> None:
        for path, trait in other.traits.items():
            mine = self.traits.get(path)
            if mine is None or (trait.ts, trait.seq) > (mine.ts, mine.seq):
                self.traits[path] = trait
        for name in ("user_ids", "anonymous_ids", "emails", "cookies"):
            mine_list = getattr(self, name)
            mine_list.extend(v for v in getattr(other, name) if v not in mine_list)
        if other.identifies and (not self.identifies or other.first_seq < self.first_seq):
            self.origin, self.first_seq = other.origin, other.first_seq
        self.identifies += other.identifies
        if other.latest_user and (not self.latest_user or other.latest_user[:2] > self.latest_user[:2]):
            self.latest_user = other.latest_user
        self.last_seen = max(self.last_seen, other.last_seen)


IDENTIFY, ALIAS, COOKIE = "identify", "alias", "cookie"


@dataclass(slots=True)
class Links:
    """What one message does to the graph: `kind` (IDENTIFY folds it into a person, ALIAS joins its nodes,
    COOKIE attaches a Munchkin cookie to the person of its one node), its nodes ('u:', 'a:', 'e:' names) and
    the ids an identify records."""

    kind: str
    nodes: list[str]
    user_id: str | None = None
    anon_id: str | None = None
    email: str | None = None
    cookie: str | None = None

    @property
    def used(self) -> bool:
        """The message counts as used (an identify or alias), not ignored (a cookie carrier)."""
        return self.kind != COOKIE


class IdentityGraph:
    """Union-find over 'u:<userId>', 'a:<anonymousId>', 'e:<email>'; each root holds one Person."""

    def __init__(self, *, nulls: str = "keep", user_id_is_email: bool = False) -> None:
        if nulls not in ("keep", "clear"):
            raise ValueError("nulls must be 'keep' or 'clear'")
        self.clear_nulls = nulls == "clear"
        self.user_id_is_email = user_id_is_email
        self._parent: dict[str, str] = {}
        self._people: dict[str, Person] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._seq = 0

    # union-find -----------------------------------------------------------------------------
    def _find(self, node: str) -> str:
        parent = self._parent
        if node not in parent:
            parent[node] = node
            return node
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    def _union(self, nodes: list[str]) -> str:
        people = self._people
        parent = self._parent
        if parent.keys().isdisjoint(nodes):  # all new (the common first identify): the first node is root
            root = nodes[0]
            for node in nodes:
                parent[node] = root
            people[root] = Person()
            return root
        roots = list(dict.fromkeys(self._find(n) for n in nodes))  # node order: deterministic
        if len(roots) == 1:
            root = roots[0]
            if root not in people:
                people[root] = Person()
            return root
        # Keep the root holding the most data so merging copies the least (ties: the first node's root).
        root = max(roots, key=lambda r: len(people[r].traits) if r in people else -1)
        person = people.setdefault(root, Person())
        for other in roots:
            if other != root:
                self._parent[other] = root
                absorbed = people.pop(other, None)
                if absorbed is not None:
                    person.merge(absorbed)
        return root

    # input -----------------------------------------------------------------------------------
    def links(self, message: dict[str, Any]) -> Links | None:
        """What `message` does to the graph (its nodes and ids), or None when it does nothing."""
        kind = message.get("type")
        user_id = message.get("userId")
        user_id = (user_id.strip() or None) if type(user_id) is str else _text(user_id)
        anon_id = message.get("anonymousId")
        anon_id = (anon_id.strip() or None) if type(anon_id) is str else _text(anon_id)
        if kind == "alias":
            previous = _text(message.get("previousId"))
            if not previous or not user_id:
                return None
            # previousId may be an anonymousId or an older userId: tie both spellings to the new userId.
            return Links(ALIAS, [f"u:{user_id}", f"u:{previous}", f"a:{previous}"])
        cookie = marketo_cookie(message)
        if kind != "identify":
            if cookie and (user_id or anon_id):
                return Links(COOKIE, [f"u:{user_id}"] if user_id else [f"a:{anon_id}"], cookie=cookie)
            return None
        email = find_email(message, user_id_is_email=self.user_id_is_email)
        nodes = [f"u:{user_id}"] if user_id else []
        if anon_id:
            nodes.append(f"a:{anon_id}")
        if email:
            nodes.append(f"e:{email}")
        if not nodes:
            return None
        return Links(IDENTIFY, nodes, user_id, anon_id, email, cookie)

    def add(self, message: dict[str, Any], origin: str = "", seq: int | None = None) -> bool:
        """Fold one message in; True when it was used (identify with an id, or alias), False when ignored.

        An identify is folded with the next sequence number, or `seq` when given (a message replayed into a
        graph of its own person keeps the number it had in the whole input)."""
        links = self.links(message)
        if links is None:
            return False
        if links.kind != IDENTIFY:
            return self.add_links(links)
        return self.add_links(links, message.get("traits"), message_time(message), origin, seq)

    def add_links(self, links: Links, traits: Any = None, ts: float | None = None, origin: str = "",
                  seq: int | None = None) -> bool:
        """`add` for a message already reduced to its `links` and, for an identify, its traits and message_time:
        what a replay of staged messages folds without parsing them again."""
        if links.kind == ALIAS:
            self._union(links.nodes)
            return True
        if links.kind == COOKIE:
            self._attach_cookie(links.nodes, links.cookie)
            return False
        nodes = links.nodes
        person = self._people[self._union(nodes)] if len(nodes) > 1 else self._person(nodes[0])
        if seq is None:
            self._seq += 1
            seq = self._seq
        self._fold(person, traits, _MISSING_TS if ts is None else ts, links, origin, seq)
        return True

    def fold_into(self, person: Person, links: Links, traits: Any, ts: float, origin: str, seq: int) -> None:
        """Fold one identify (already reduced to `links`) into `person` as `add` would, without the union-find:
        for a caller that knows the person the message belongs to (columnar.py builds people this way)."""
        self._fold(person, traits, ts, links, origin, seq)

    def _person(self, node: str) -> Person:
        root = self._find(node)
        person = self._people.get(root)
        if person is None:
            person = self._people[root] = Person()
        return person

    def _attach_cookie(self, nodes: list[str], cookie: str | None) -> None:
        person = self._person(nodes[0])
        if cookie and cookie not in person.cookies:
            person.cookies.append(cookie)

    def _fold(self, person: Person, traits: Any, ts: float, links: Links, origin: str, seq: int) -> None:
        user_id, anon_id, email, cookie = links.user_id, links.anon_id, links.email, links.cookie
        person.identifies += 1
        if ts > person.last_seen:
            person.last_seen = ts
        if not person.first_seq:
            person.origin, person.first_seq = origin, seq
        if user_id:
            if user_id not in person.user_ids:
                person.user_ids.append(user_id)
            latest = person.latest_user
            if latest is None or (ts, seq) > latest[:2]:
                person.latest_user = (ts, seq, user_id)
        if anon_id and anon_id not in person.anonymous_ids:
            person.anonymous_ids.append(anon_id)
        if email and email not in person.emails:
            person.emails.append(email)
        if cookie and cookie not in person.cookies:
            person.cookies.append(cookie)
        if type(traits) is dict and (person.raw is not None or not person._traits) and not self.clear_nulls:
            paths, values = walk(traits, email if email and not traits.get("email") else None)
            if person.raw is None:
                # A person's first traits (the common case): nothing to compare timestamps with; flattened later.
                shape = tuple(paths)
                shapes = self._shapes
                if len(shapes) < _SHAPES_MAX:  # one tuple per distinct set of paths, shared by all who have it
                    shape = shapes.setdefault(shape, shape)
                person.raw = (shape, values, ts, seq)
                return
            shape, _, last_ts, _ = person.raw
            if len(paths) == len(shape) and tuple(paths) == shape:
                # The same paths again: the message with the later timestamp (file order on a tie) wins them all.
                if ts >= last_ts:
                    person.raw = (shape, values, ts, seq)
                return
        store = person.traits
        pairs: list[tuple[str, Any]] = []
        if isinstance(traits, dict):
            _flatten_into(pairs, traits, "")
            if email and not traits.get("email"):
                pairs.append(("email", email))  # found elsewhere in the message (find_email)
        elif email:
            pairs.append(("email", email))
        clear = self.clear_nulls
        for path, value in pairs:
            current = store.get(path)
            # Messages arrive in file order, so a later `seq` always wins a timestamp tie.
            if current is not None and current.ts > ts:
                continue
            if value is None:
                if clear:
                    store[path] = Trait(None, ts, seq)
                    prefix = path + "."
                    for other in [p for p in store if p.startswith(prefix)]:
                        if store[other].ts <= ts:
                            store[other] = Trait(None, ts, seq)
                continue
            if path == "email" and isinstance(value, str):
                value = value.strip().lower()
            store[path] = Trait(value, ts, seq)

    # output ----------------------------------------------------------------------------------
    def person_of(self, *, user_id: Any = None, anonymous_id: Any = None, email: Any = None) -> Person | None:
        """The merged person behind a userId, else an anonymousId, else an e-mail (aliases followed).

        Only people seen in at least one identify count, as in `people()`; None when no identifier is known.
        The lookup never adds nodes, so it is safe to call for identifiers the graph has not seen.
        """
        user_id, anonymous_id = _text(user_id), _text(anonymous_id)
        address = normalize_email(email) if email is not None else None
        for node in (user_id and f"u:{user_id}", anonymous_id and f"a:{anonymous_id}", address and f"e:{address}"):
            if node and node in self._parent:
                person = self._people.get(self._find(node))
                if person is not None and person.identifies:
                    return person
        return None

    def __len__(self) -> int:
        return sum(1 for p in self._people.values() if p.identifies)

    def people(self, *, consume: bool = False) -> Iterator[Person]:
        """Each person seen in at least one identify, in a stable order (first identify seen first).

        With `consume=True` the graph hands its people over: the id index is dropped at once and each person
        is released as it is yielded, so a planner's output can take the memory the graph gave up.
        """
        identified = [p for p in self._people.values() if p.identifies]
        identified.sort(key=_FIRST_SEQ)
        if not consume:
            yield from identified
            return
        self._parent.clear()
        self._people.clear()
        identified.reverse()
        while identified:
            yield identified.pop()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip()
    return text or None
