"""Where the shipped data folders (rules/, playbooks/) are.

In a checkout or an editable install they sit at the top of the source tree; a
wheel installs them under ``<prefix>/share/upkeep/`` (pyproject's data-files).
"""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parent.parent


def shipped_dir(name: str) -> Path:
    """The folder of shipped ``name`` (``rules`` or ``playbooks``); the source tree's wins."""
    in_tree = _SOURCE_TREE / name
    if in_tree.is_dir():
        return in_tree
    return Path(sys.prefix) / "share" / "upkeep" / name
