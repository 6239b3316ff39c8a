"""Reading the TOML files users write (config, rules, mapping), with errors that name the file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_toml", "tomllib"]  # tomllib: `init` checks the text it is about to write


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file (config, rules, mapping); text that is not UTF-8 or not TOML is a ConfigError naming
    the file. OSError is left to the caller, which knows what the file is for."""
    with path.open("rb") as handle:
        data = handle.read()
    try:
        parsed: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                          hint="save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parsed
