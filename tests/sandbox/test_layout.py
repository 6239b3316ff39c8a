"""The sandbox stands alone: it imports no client code, so it emulates the services rather than the client."""

from __future__ import annotations

import ast
from pathlib import Path

import segmarketo_cli.sandbox as sandbox_package

SANDBOX = Path(sandbox_package.__file__).parent
# Foundations the sandbox may use; everything else under segmarketo_cli is the client (jobs, marketo, segment, ...).
ALLOWED = {"segmarketo_cli.paths"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_sandbox_imports_only_itself_and_foundations():
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) > 20
    outside = {
        f"{path.relative_to(SANDBOX)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.startswith("segmarketo_cli") and not name.startswith("segmarketo_cli.sandbox") and name not in ALLOWED
    }
    assert outside == set()


def test_every_sandbox_folder_is_a_package():
    folders = {path.parent for path in SANDBOX.rglob("*.py")}
    assert {folder.name for folder in folders} == {"sandbox", "marketo", "stores"}
    for folder in folders:
        assert (folder / "__init__.py").exists(), folder
