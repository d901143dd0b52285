"""The `upkeep-agent` command (being built)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("upkeep-agent: not built yet", file=sys.stderr)
    return 2
