#!/usr/bin/env python3
"""The project's two entry points, needing nothing but python3.

    python3 dev.py demo   # the whole system on this machine (SQLite, 127.0.0.1)
    python3 dev.py test   # ruff, then the whole test suite

Each creates ./.venv on first use and installs the project into it (editable,
with the collector and test extras); later runs reuse it while pyproject.toml
is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _ensure_venv() -> None:
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not (BIN / "python").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        except subprocess.CalledProcessError:
            # Debian splits ensurepip into python3-venv; as root we can fetch it.
            if os.geteuid() == 0 and shutil.which("apt-get"):
                shutil.rmtree(VENV, ignore_errors=True)
                ver = f"{sys.version_info.major}.{sys.version_info.minor}"
                subprocess.run(["apt-get", "install", "-y", "-q", f"python{ver}-venv"], check=True)
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            else:
                sys.exit("dev.py: python3 cannot create a virtual environment; install python3-venv")
    pip = [str(BIN / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[collector,test]"], check=True)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "venv"}:
        print(__doc__.strip())
        return 2
    _ensure_venv()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if argv[0] == "venv":
        return 0
    # The last step replaces this process, so Ctrl-C and SIGTERM reach the demo (or pytest)
    # directly and it alone decides how to stop.
    if argv[0] == "demo":
        os.execve(str(BIN / "upkeep"), [str(BIN / "upkeep"), "demo", *argv[1:]], env)
    lint = subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT, env=env)
    if lint != 0:
        return lint
    os.chdir(ROOT)
    os.execve(str(BIN / "python"), [str(BIN / "python"), "-m", "pytest", *argv[1:]], env)
    return 0  # not reached: execve does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
