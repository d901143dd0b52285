"""The floors of DESIGN.md hold: the pure core does no I/O and nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Libraries that mean network, disk, processes, a database, a scheduler or a clock of its own.
IO_MODULES = {
    "socket", "subprocess", "http", "urllib", "smtplib", "ssl", "shutil", "sqlite3", "asyncio",
    "sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn", "httpx", "paramiko",
    "apscheduler", "aiosmtpd", "psutil", "requests",
}
UPPER_FLOORS = {"collector.services", "collector.store", "collector.api", "collector.remote",
                "collector.notify", "collector.cli", "collector.app", "collector.scheduling",
                "collector.reports", "collector.exposition"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _py(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _py("collector/core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_is_pure(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in IO_MODULES, f"{path.name} imports {name}: the core takes data and time as input"
        assert not any(name == f or name.startswith(f + ".") for f in UPPER_FLOORS), (
            f"{path.name} imports {name} from a floor above the core"
        )


# Floors below the HTTP API, the command line and the app wiring never reach up into them.
LOWER_FLOORS = ("services", "store", "remote", "notify", "scheduling", "reports", "config")
API_FLOORS = ("collector.api", "collector.cli", "collector.app")


@pytest.mark.parametrize(
    "path", [p for f in LOWER_FLOORS for p in _py(f"collector/{f}")], ids=lambda p: str(p.relative_to(ROOT))
)
def test_nothing_below_the_api_imports_it(path: Path) -> None:
    for name in _imports(path):
        assert not any(name == f or name.startswith(f + ".") for f in API_FLOORS), (
            f"{path.relative_to(ROOT)} imports {name}, a floor above it"
        )


@pytest.mark.parametrize("path", _py("agent"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_agent_never_imports_the_collector(path: Path) -> None:
    assert not any(n == "collector" or n.startswith("collector.") for n in _imports(path))


def test_the_core_modules_exist() -> None:
    assert _py("collector/core"), "collector/core holds the pure core"
