"""Entry point: `segmarketo` and `python -m segmarketo_cli`."""

from __future__ import annotations

import sys


def main() -> None:
    from segmarketo_cli.cli.main import run

    sys.exit(run())


if __name__ == "__main__":
    main()
