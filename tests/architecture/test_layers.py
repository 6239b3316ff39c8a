"""The layers of the package, checked on the source: no module imports one above it (DESIGN.md "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "segmarketo_cli"

# A module under the first name (a package or a module) must not import anything under the second names.
CLIENT_CODE = ("marketo", "segment", "jobs", "cli", "state", "sources", "mapping", "identity", "doctor", "config")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # foundations: nothing above them
    "errors": ("*",),
    "paths": CLIENT_CODE + ("sandbox",),
    "endpoints": CLIENT_CODE + ("sandbox",),
    "tomlfiles": CLIENT_CODE + ("sandbox",),
    "timeparse": CLIENT_CODE + ("sandbox",),
    "http": CLIENT_CODE + ("sandbox",),
    "logs": CLIENT_CODE + ("sandbox",),
    "sizes": CLIENT_CODE + ("sandbox",),
    "suggest": CLIENT_CODE + ("sandbox",),
    "waits": CLIENT_CODE + ("sandbox",),
    "notify": CLIENT_CODE + ("sandbox",),  # the alert webhook: below config, which checks its URL
    "schedules": CLIENT_CODE + ("sandbox",),
    # the planning engine: DuckDB with the profile's limits; it knows the state folder, not what jobs keep in it
    "engine": CLIENT_CODE + ("sandbox",),
    "secrets": ("marketo", "segment", "jobs", "cli", "state", "sources", "mapping", "identity", "doctor", "sandbox"),
    "config": ("marketo", "segment", "jobs", "cli", "state", "sources", "mapping", "identity", "doctor", "sandbox"),
    # the service clients know the wire, not the profile, the store or the jobs
    "marketo": ("config", "state", "sources", "mapping", "identity", "jobs", "cli", "doctor", "sandbox", "segment"),
    "segment": ("config", "state", "sources", "mapping", "identity", "jobs", "cli", "doctor", "sandbox", "marketo"),
    "state": ("marketo", "segment", "sources", "mapping", "identity", "jobs", "cli", "doctor", "sandbox"),
    # the domain: inputs and how they map, never the store, the jobs or the terminal
    "identity": ("state", "jobs", "cli", "doctor", "sandbox", "marketo", "segment"),
    "sources": ("state", "jobs", "cli", "doctor", "sandbox", "marketo", "segment", "mapping"),
    "mapping": ("state", "jobs", "cli", "doctor", "sandbox", "segment"),
    "jobs": ("cli", "doctor", "sandbox"),
    # the receiver's spool, HTTP app and drain loop; the flush that runs the jobs is cli/listen_flush.py
    "listen": ("cli", "doctor", "sandbox", "jobs", "marketo", "segment", "state", "mapping", "identity"),
    "doctor": ("cli", "sandbox"),
    # the emulator emulates the services, not the client: of the package it uses only paths (the sample data)
    "sandbox": CLIENT_CODE + ("errors", "endpoints", "tomlfiles", "timeparse", "http", "logs", "secrets"),
}
TERMINAL = ("click", "rich", "tqdm")  # only cli/ talks to the terminal


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "sample_data" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (at any depth of the file, in-function imports included), absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package_parts[: len(package_parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def _area(dotted: str) -> str | None:
    """'segmarketo_cli.jobs.writeback.run' -> 'jobs'; None outside the package."""
    parts = dotted.split(".")
    if parts[0] != "segmarketo_cli" or len(parts) < 2:
        return None
    return parts[1]


def _violations() -> list[str]:
    found = []
    for path in _modules():
        rel = path.relative_to(PACKAGE.parent)
        own = rel.with_suffix("").parts[1] if len(rel.parts) > 1 else None
        if own in (None, "__init__", "__main__"):
            continue
        forbidden = FORBIDDEN.get(own, ())
        for line, target in _imports(path):
            top = target.split(".")[0]
            if own != "cli" and top in TERMINAL:
                found.append(f"{rel}:{line} imports {top} (only cli/ talks to the terminal)")
            area = _area(target)
            if area is None or area == own:
                continue
            if "*" in forbidden or area in forbidden:
                found.append(f"{rel}:{line} imports segmarketo_cli.{area} ({own} must not depend on {area})")
    return sorted(set(found))


def test_no_module_imports_a_layer_above_it():
    assert _violations() == []


def test_every_area_of_the_package_has_a_rule():
    areas = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    unruled = areas - set(FORBIDDEN) - {"__init__", "__main__", "cli", "sample_data"}
    assert unruled == set()


@pytest.mark.parametrize(("source", "expected"), [
    ("from segmarketo_cli.config import Settings\n", ["segmarketo_cli.config", "segmarketo_cli.config.Settings"]),
    ("def f():\n    import click\n", ["click"]),
])
def test_the_check_sees_top_level_and_in_function_imports(tmp_path, source, expected):
    module = PACKAGE / "marketo" / "probe.py"  # a path inside the package, never written
    fake = tmp_path / "probe.py"
    fake.write_text(source)
    tree_imports = [t for _, t in _imports_at(fake, module)]
    assert tree_imports == expected


def _imports_at(fake: Path, as_path: Path) -> list[tuple[int, str]]:
    original = Path.read_text
    try:
        Path.read_text = lambda self, *a, **k: original(fake, *a, **k) if self == as_path else original(self, *a, **k)
        return _imports(as_path)
    finally:
        Path.read_text = original
