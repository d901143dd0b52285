"""Test support: finding the real servers and tools the tests start.

On a laptop a missing tool skips its tests; under CI (CI=true) it fails them,
because .ci/run installs every one and a skip would hide a broken install.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """Skip (laptop) or fail (CI) because ``what`` is not installed."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI but is not installed", pytrace=False)
    pytest.skip(f"{what} is not installed")


def require_binary(name: str, *candidates: str) -> str:
    """The path of an installed program, looked up on PATH and then in ``candidates``."""
    found = shutil.which(name)
    if found:
        return found
    for c in candidates:
        if Path(c).is_file() and os.access(c, os.X_OK):
            return c
    missing(name)
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
