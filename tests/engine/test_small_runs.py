"""Small runs never pay the planning engine's fixed cost: a child `segmarketo` process planning a small input in
memory never imports DuckDB, pyarrow or pandas; one that plans a small input on the engine never imports pandas;
a backfill dry run read by DuckDB (columnar.py) that hands it no more than engine.LIST_ROWS rows never imports
pyarrow."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from segmarketo_cli.jobs.backfill_leads.sizing import COLUMNAR_FROM
from tests.support.sandbox_env import subprocess_env
from tests.support.writeback_helpers import populate

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("duckdb", "pyarrow", "pandas")
# Runs the CLI in a child interpreter, then reports (last line of stderr) which heavy modules it loaded.
PROBE = f"""
import sys
from segmarketo_cli.cli.main import run
try:
    code = run(sys.argv[1:])
finally:
    print("LOADED", *[name for name in {HEAVY!r} if name in sys.modules], file=sys.stderr)
sys.exit(code)
"""


def loaded_modules(url: str, home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The child's result and the heavy modules it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          env=subprocess_env(url, home), cwd=ROOT)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("LOADED"), done.stderr[-2000:]
    return done, last.split()[1:]


def test_a_small_backfill_dry_run_never_imports_duckdb(sandbox, tmp_path):
    done, heavy = loaded_modules(sandbox.url, tmp_path / "home", "backfill-leads", "--json", "--dry-run",
                                 str(ROOT / "sample_data" / "identifies.jsonl.gz"))
    assert done.returncode in (0, 3), done.stderr[-2000:]
    assert json.loads(done.stdout)["counts"]["leads_to_write"] > 0
    assert heavy == []


def test_a_columnar_backfill_dry_run_never_imports_pyarrow(sandbox, tmp_path):
    """Above COLUMNAR_FROM bytes the identifies are read and mapped by DuckDB: nothing there needs Arrow."""
    path, people, size = tmp_path / "identifies.jsonl.gz", 0, 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        while size <= COLUMNAR_FROM:
            line = json.dumps({"type": "identify", "userId": f"user-{people}", "timestamp": "2026-03-01T00:00:00Z",
                               "context": {"ip": "10.0.0.1", "library": {"name": "analytics-node"}},
                               "traits": {"email": f"person{people}@example.com", "firstName": "Ann",
                                          "lastName": "Lee", "title": "Engineer " * 20}}) + "\n"
            size += out.write(line)
            people += 1
    done, heavy = loaded_modules(sandbox.url, tmp_path / "home", "backfill-leads", "--json", "--dry-run", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["counts"]["leads_to_write"] == people
    assert heavy == ["duckdb"]


def test_a_small_writeback_dry_run_never_imports_duckdb(sandbox, tmp_path):
    made = populate(sandbox, 40)
    done, heavy = loaded_modules(sandbox.url, tmp_path / "home", "writeback", "--since", "3d", "--dry-run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == len(made)
    assert heavy == []


def test_a_small_sync_audience_dry_run_never_imports_pandas(sandbox, tmp_path):
    box = sandbox.marketo
    ids = [box.add_lead(email=f"p{i}@example.com") for i in range(8)]
    box.add_to_list(box.add_list("VIP"), ids[4:])
    audience = tmp_path / "audience.csv"
    audience.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(8)), encoding="utf-8")
    done, heavy = loaded_modules(sandbox.url, tmp_path / "home", "sync-audience", str(audience), "--list", "VIP",
                                 "--dry-run", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["counts"]["added"] == 4
    assert heavy == ["duckdb", "pyarrow"]


def test_a_small_apply_events_dry_run_never_imports_pandas(sandbox, tmp_path):
    sandbox.load_seed(ROOT / "sample_data" / "sandbox")
    done, heavy = loaded_modules(sandbox.url, tmp_path / "home", "apply-events",
                                 str(ROOT / "sample_data" / "track_events.jsonl"), "--rules",
                                 str(ROOT / "sample_data" / "rules.toml"), "--dry-run", "--json")
    assert done.returncode in (0, 3), done.stderr[-2000:]
    assert json.loads(done.stdout[done.stdout.index("{\n"):])["counts"]
    assert heavy == ["duckdb", "pyarrow"]
