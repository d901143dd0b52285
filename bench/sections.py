"""BENCHMARKS.md is written by the benchmarks, a section each between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``; a run replaces its own section and leaves the others as they are."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(name: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace section ``name`` with ``text`` (markers added when ``text`` has none), or append it."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = text.rstrip() if start in text else f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(current, encoding="utf-8")
