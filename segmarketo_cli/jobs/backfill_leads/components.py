"""backfill-leads people on the engine, step 2: the connected components of the staged identity nodes."""

from __future__ import annotations

import duckdb

from segmarketo_cli.engine import fetch_row
from segmarketo_cli.jobs.backfill_leads.staging import MESSAGES, NODES

COMPONENTS = "identity_components"  # seq -> component (the smallest node id of the message's person)
PEOPLE = "identity_people"  # component -> first_fold: the person's first identify, their place in the output
_WORK = ("identity_node_ids", "identity_edges", "identity_links", "identity_labels", "identity_next")


def label_components(con: duckdb.DuckDBPyConnection) -> int:
    """Fill COMPONENTS and PEOPLE from the staged NODES and MESSAGES; the number of people (components holding
    at least one identify).

    Label propagation: each node starts labelled with its own id; every round a message takes the smallest
    label of its nodes and each node the smallest label of its messages, then jumps to its label's label
    (so an alias chain takes about log2 of its length in rounds). Labels only fall and stay inside their
    component, so when a round changes nothing every node carries its component's smallest id.
    """
    con.execute("CREATE OR REPLACE TABLE identity_node_ids AS "
                f"SELECT node, row_number() OVER () AS id FROM (SELECT DISTINCT node FROM {NODES})")
    con.execute("CREATE OR REPLACE TABLE identity_edges AS "
                f"SELECT n.seq, i.id FROM {NODES} n JOIN identity_node_ids i USING (node)")
    con.execute(f"DROP TABLE {NODES}")
    # Only messages with two nodes or more join anything; the others take their node's final label.
    con.execute("CREATE OR REPLACE TABLE identity_links AS SELECT DISTINCT seq, id FROM identity_edges "
                "WHERE seq IN (SELECT seq FROM identity_edges GROUP BY seq HAVING min(id) < max(id))")
    con.execute("CREATE OR REPLACE TABLE identity_labels AS SELECT DISTINCT id, id AS label FROM identity_links")
    changed = True
    while changed:
        con.execute("""
            CREATE OR REPLACE TABLE identity_next AS
            WITH per_message AS (
                SELECT k.seq, min(l.label) AS label FROM identity_links k JOIN identity_labels l USING (id)
                GROUP BY k.seq),
            per_node AS (
                SELECT k.id, min(m.label) AS label FROM identity_links k JOIN per_message m USING (seq)
                GROUP BY k.id)
            SELECT p.id, least(p.label, j.label) AS label
            FROM per_node p JOIN identity_labels j ON j.id = p.label""")
        row = fetch_row(con, "SELECT count(*) FROM identity_next n JOIN identity_labels l USING (id) "
                             "WHERE n.label <> l.label")
        changed = bool(row and row[0])
        con.execute("DROP TABLE identity_labels")
        con.execute("ALTER TABLE identity_next RENAME TO identity_labels")
    con.execute(f"""
        CREATE OR REPLACE TABLE {COMPONENTS} AS
        SELECT e.seq, min(coalesce(l.label, e.id)) AS component
        FROM identity_edges e LEFT JOIN identity_labels l USING (id) GROUP BY e.seq""")
    con.execute(f"""
        CREATE OR REPLACE TABLE {PEOPLE} AS
        SELECT c.component, min(m.fold_seq) AS first_fold
        FROM {COMPONENTS} c JOIN {MESSAGES} m USING (seq) GROUP BY c.component HAVING first_fold IS NOT NULL""")
    for table in _WORK:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    row = fetch_row(con, f"SELECT count(*) FROM {PEOPLE}")
    return int(row[0]) if row else 0
