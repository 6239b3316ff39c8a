"""The sandbox's folders are packages (what it may import: tests/architecture/test_layers.py)."""

from __future__ import annotations

from pathlib import Path

import segmarketo_cli.sandbox as sandbox_package

SANDBOX = Path(sandbox_package.__file__).parent
def test_every_sandbox_folder_is_a_package():
    folders = {path.parent for path in SANDBOX.rglob("*.py")}
    assert {folder.name for folder in folders} == {"sandbox", "marketo", "stores"}
    for folder in folders:
        assert (folder / "__init__.py").exists(), folder
