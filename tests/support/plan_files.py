"""Plan files (--plan-out, runs show --changes --plan-out) read back with pandas, every cell as text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segmarketo_cli.jobs.changes import PLAN_COLUMNS


def read_plan(path: Path) -> list[dict[str, str]]:
    """The rows of a .csv, .parquet or .xlsx plan file (openpyxl for .xlsx), checked to have PLAN_COLUMNS."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".xlsx":
        frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == PLAN_COLUMNS
    return frame.to_dict(orient="records")
