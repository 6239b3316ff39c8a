"""What an audience file says: people (by e-mail, userId or Marketo id), rejected rows, and the counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from segmarketo_cli.identity import SHA256_RE, normalize_email

TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
# Why a row names nobody usable: (reason, field, value); field and value are None when no one cell is to blame.
Problem = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class Identity:
    """One way to name a person: kind is 'email', 'userId' or 'marketo-id'; value is normalised."""

    kind: str
    value: str


@dataclass
class AudiencePerson:
    """One person of the audience: identities (first = key), whether they belong, and where they came from."""

    identities: tuple[Identity, ...]
    origin: str
    member: bool = True
    user_id: str | None = None

    @property
    def key(self) -> Identity:
        return self.identities[0]


@dataclass
class Rejection:
    """An input row that names nobody usable, with its reason."""

    origin: str
    reason: str
    field: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class AudienceRow:
    """One usable input row: the person it names, its place in the file, and for events its audience and time."""

    person: AudiencePerson
    seq: int
    audience: str | None = None
    ts: float | None = None


# What a reader yields per input row: a usable row, a rejected one, or None for a row of no audience (ignored).
Item = AudienceRow | Rejection | None


@dataclass
class AudienceInput:
    """What a reader found in one file, without its people: the counts of the checking pass, and `scan` to read
    the rows again (the run loads them into the planning engine). `people` and `repeated` are known once loaded."""

    path: str
    shape: str
    kind: str  # "snapshot" (full membership) or "events" (entries and exits)
    scan: Callable[[], Iterator[Item]]
    audience: str | None = None
    rows: int = 0
    usable: int = 0  # rows naming someone, of the chosen audience
    ignored: int = 0
    rejected: int = 0
    people: int = 0
    repeated: int = 0

    @classmethod
    def of_people(cls, path: str, people: list[AudiencePerson], kind: str = "snapshot") -> AudienceInput:
        """An input made of the given people, one row each (tests and benchmarks)."""
        def scan() -> Iterator[Item]:
            for seq, person in enumerate(people):
                yield AudienceRow(person, seq)
        return cls(path, "csv", kind, scan, rows=len(people), usable=len(people))


def identities_of(values: dict[str, list[str]]) -> tuple[list[Identity], Problem | None]:
    """Emails first (all of them), else the user id, else the Marketo id; the first problem when none."""
    ids: list[Identity] = []
    problem: Problem | None = None
    for raw in values.get("email") or []:
        if not raw or not raw.strip():
            continue
        email = normalize_email(raw)
        if email is None or "," in email:  # Marketo splits filter values on commas
            reason = "hashed e-mail (SHA-256): Marketo needs clear addresses" if SHA256_RE.match(raw.strip()) \
                else "not an e-mail address"
            problem = problem or (reason, "email", raw)
        elif Identity("email", email) not in ids:
            ids.append(Identity("email", email))
    if ids:
        return ids, None
    for raw in values.get("userId") or []:
        if raw and raw.strip() and "," not in raw:
            return [Identity("userId", raw.strip())], None
    for raw in values.get("marketo-id") or []:
        text = (raw or "").strip()
        if text.isdigit() and int(text) > 0:
            return [Identity("marketo-id", str(int(text)))], None
        if text:
            problem = problem or ("not a Marketo lead id", "marketo-id", raw)
    return [], problem or ("no identifier (e-mail, user id or lead id) in this row", None, None)


def rejection(origin: str, problem: Problem) -> Rejection:
    """The reject of a row that names nobody usable."""
    reason, field_name, value = problem
    return Rejection(origin, reason, field_name, value)
