"""The scale bench's reference columns (bench/bench_scale.py), each run alone in a fresh process that imports
nothing else, so its CPU and peak RSS are the bare cost:

    python bench/bench_reference.py --bare-loop FILE     # gzip + json.loads of every line
    python bench/bench_reference.py --bare-duckdb FILE   # DuckDB: latest traits per userId
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from typing import Any

DUCKDB_MEMORY_LIMIT = "1GB"  # the engine's default memory_limit (docs/engine.md)


def bare_loop(path: str) -> dict[str, Any]:
    """Decode every line and nothing else: the floor for any Python reader."""
    count = 0
    with gzip.open(path, "rb") as handle:
        for line in handle:
            json.loads(line)
            count += 1
    return {"messages": count}


def bare_duckdb(path: str) -> dict[str, Any]:
    """Latest traits per userId (arg_max by timestamp) over the .gz, with the engine's default memory limit."""
    import duckdb  # here, not at the top: the bare loop's process must not load it

    with tempfile.TemporaryDirectory() as spill:
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        con.execute(f"SET temp_directory = '{spill}'")
        source = path.replace("'", "''")
        con.execute(f"""
            CREATE TABLE latest AS
            SELECT userId, arg_max(traits, "timestamp") AS traits
            FROM read_json('{source}', format = 'newline_delimited',
                           columns = {{'type': 'VARCHAR', 'userId': 'VARCHAR', 'timestamp': 'VARCHAR',
                                       'traits': 'JSON'}})
            WHERE type = 'identify' AND userId IS NOT NULL
            GROUP BY userId""")
        row = con.execute("SELECT count(*), sum(length(traits)) FROM latest").fetchone()
        con.close()
    assert row is not None
    return {"people": row[0], "trait_bytes": row[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--bare-loop", metavar="FILE", help="the gzip + json.loads reference")
    group.add_argument("--bare-duckdb", metavar="FILE", help="the DuckDB reference")
    args = parser.parse_args()
    print(json.dumps(bare_loop(args.bare_loop) if args.bare_loop else bare_duckdb(args.bare_duckdb)))


if __name__ == "__main__":
    main()
