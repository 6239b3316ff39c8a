"""Packaging: every subpackage and the sample data are listed for the wheel (pyproject lists packages by hand)."""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import find_packages

from segmarketo_cli.paths import sample_data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set(find_packages(str(ROOT), include=["segmarketo_cli*"]))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_sample_data_installs_inside_the_package():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"]["segmarketo_cli.sample_data"] == "sample_data"
    patterns = setuptools["package-data"]
    shipped = {p.name for p in (ROOT / "sample_data").iterdir() if p.is_file() and p.suffix != ".py"}
    covered = {name for name in shipped
               if any(Path(name).match(pattern) for pattern in patterns["segmarketo_cli.sample_data"])}
    assert covered == shipped
    seed = {p.name for p in (ROOT / "sample_data" / "sandbox").iterdir()}
    assert all(any(Path(n).match(p) for p in patterns["segmarketo_cli.sample_data.sandbox"]) for n in seed)


def test_sample_data_is_found_from_the_source_tree():
    assert sample_data_dir() == ROOT / "sample_data"
    assert (sample_data_dir() / "sandbox" / "activities.jsonl").is_file()
