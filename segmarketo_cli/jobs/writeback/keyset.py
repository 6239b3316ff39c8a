"""Whole-run key sets of write-back (messageIds seen, leads looked up): in memory while small, then in a DuckDB table
behind a Bloom filter."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

Connect = Callable[[], "duckdb.DuckDBPyConnection"]  # the run's engine connection, opened when first called
MEMORY_KEYS = 50_000  # keys a KeyTable holds in Python; past them it moves to the engine
FLUSH_ROWS = 50_000  # new keys held in Python before they go to the table in one Arrow insert
BLOOM_BITS = 1 << 26  # 8 MiB per set: ~1e-3 false positives at 1M keys, ~7 % at 10M (a probe each, never wrong)
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads hash(int) == int over all 64 bits
_MASK64 = (1 << 64) - 1
_table_numbers = itertools.count()


class BloomFilter:
    """A fixed-size Bloom filter with two probes: `key in filter` is False only for keys never added."""

    def __init__(self, bits: int = BLOOM_BITS) -> None:
        self._bits = bytearray(bits // 8)
        self._mask = bits - 1

    def _slots(self, key: Hashable) -> tuple[int, int]:
        mixed = (hash(key) * _MIX) & _MASK64
        return mixed & self._mask, (mixed >> 32) & self._mask

    def add(self, key: Hashable) -> None:
        for slot in self._slots(key):
            self._bits[slot >> 3] |= 1 << (slot & 7)

    def __contains__(self, key: Hashable) -> bool:
        first, second = self._slots(key)
        return bool(self._bits[first >> 3] & (1 << (first & 7)) and self._bits[second >> 3] & (1 << (second & 7)))


class KeyTable:
    """Keys of one run, each with optional values: in a Python dict while there are at most MEMORY_KEYS of them,
    so a small run never opens the engine (docs/engine.md), then in an EngineKeys table of the run's engine, which
    `connect` opens on first use. Callers add each key once and serialise access across threads."""

    def __init__(self, connect: Connect, name: str, key_type: str, columns: Sequence[tuple[str, str]] = ()) -> None:
        self._connect = connect
        self._spec = (name, key_type, columns)
        self._memory: dict[Hashable, tuple[Any, ...]] = {}
        self._table: EngineKeys | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, key: Hashable, *values: Any) -> None:
        """Add a key not in the table yet, with its values."""
        self._count += 1
        if self._table is not None:
            self._table.add(key, *values)
            return
        self._memory[key] = values
        if len(self._memory) > MEMORY_KEYS:
            self._table = EngineKeys(self._connect(), *self._spec)
            for held, held_values in self._memory.items():
                self._table.add(held, *held_values)
            self._memory = {}

    def lookup(self, keys: Iterable[Hashable]) -> dict[Any, tuple[Any, ...]]:
        """The values of each of `keys` already added (keys not added are left out)."""
        if self._table is not None:
            return self._table.lookup(keys)
        return {key: self._memory[key] for key in keys if key in self._memory}


class EngineKeys:
    """Keys with their values in a DuckDB table of the run's engine (it spills to the engine's temp folder past its
    memory_limit; docs/engine.md). `lookup` answers for a whole chunk of keys with at most one query, and only asks
    about the keys the Bloom filter cannot rule out.

    Chunks travel as one DuckDB list per column (`unnest`), not row by row. Not as Arrow arrays: building one from
    Python objects makes pyarrow import pandas, about 47 MB more RSS for a job that never uses it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, key_type: str,
                 columns: Sequence[tuple[str, str]] = ()) -> None:
        self._con = con.cursor()
        self.table = f"{name}_{next(_table_numbers)}"
        self._types = [("key", key_type), *columns]
        self._columns = ", ".join(f'"{column}"' for column, _ in self._types)
        spec = ", ".join(f'"{column}" {kind}' for column, kind in self._types)
        self._con.execute(f"CREATE TABLE {self.table} ({spec})")
        self._bloom = BloomFilter(BLOOM_BITS)
        self._unsaved: list[tuple[Any, ...]] = []

    def add(self, key: Hashable, *values: Any) -> None:
        """Add a key not in the table yet, with its values."""
        self._bloom.add(key)
        self._unsaved.append((key, *values))
        if len(self._unsaved) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Insert the keys added since the last flush."""
        if not self._unsaved:
            return
        rows, self._unsaved = self._unsaved, []
        lists = ", ".join(f"unnest(${n}::{kind}[])" for n, (_, kind) in enumerate(self._types, start=1))
        columns = [list(column) for column in zip(*rows, strict=True)]
        self._con.execute(f"INSERT INTO {self.table} SELECT {lists}", columns)

    def lookup(self, keys: Iterable[Hashable]) -> dict[Any, tuple[Any, ...]]:
        """The values of each of `keys` already added (keys not added are left out)."""
        candidates = list(dict.fromkeys(key for key in keys if key in self._bloom))
        if not candidates:
            return {}
        self.flush()
        rows = self._con.execute(f"SELECT {self._columns} FROM {self.table} "
                                 f"JOIN (SELECT unnest($1::{self._types[0][1]}[]) AS key) USING (key)",
                                 [candidates]).fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}


def engine_or_private(connect: Connect | None) -> Connect:
    """The run's engine connection (opened on first use), or a private in-memory one (unit tests and benches build
    parts alone)."""
    if connect is not None:
        return connect

    def private() -> duckdb.DuckDBPyConnection:
        import duckdb

        return duckdb.connect()

    return private
