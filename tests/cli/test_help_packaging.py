"""Man pages install with the package: pip and pipx put pyproject's data-files under <prefix>/share/man/man1."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_man_page_is_a_data_file_for_share_man_man1():
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    patterns = data_files["share/man/man1"]
    pages = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "man").glob("*.1"))
    assert len(pages) >= 20
    listed = {path.relative_to(ROOT).as_posix() for pattern in patterns for path in ROOT.glob(pattern)}
    assert listed == set(pages)
