"""Finding playbooks: the shipped ones in playbooks/ and those in the configured paths.

A playbook in a configured path replaces a shipped one of the same name, so a site can
adapt the standard inspection without forking the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from collector.core.playbook.model import Playbook
from collector.core.playbook.parser import Problem, check_playbook, parse_playbook
from collector.errors import NotFound, PlaybookError

SHIPPED = Path(__file__).resolve().parents[2] / "playbooks"


def read_yaml(path: Path) -> object:
    """The YAML data in ``path``; PlaybookError for an unreadable file or bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise PlaybookError(f"{where}not valid YAML", file=str(path)) from None


def check_file(path: Path) -> list[Problem]:
    """Every problem in the playbook file (an unreadable file or bad YAML is one problem)."""
    try:
        data = read_yaml(path)
    except PlaybookError as exc:
        return [Problem(str(path), "", str(exc).split(": ", 1)[-1])]
    return check_playbook(data, file=str(path))


def load_file(path: Path) -> Playbook:
    return parse_playbook(read_yaml(path), file=str(path))


class Catalog:
    """The playbooks available to run, by name."""

    def __init__(self, paths: Sequence[Path] = (), *, include_shipped: bool = True) -> None:
        self.paths = ([SHIPPED] if include_shipped else []) + list(paths)

    def files(self) -> list[Path]:
        found: list[Path] = []
        for folder in self.paths:
            if folder.is_file():
                found.append(folder)
            elif folder.is_dir():
                found.extend(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))
        return found

    def load(self) -> dict[str, Playbook]:
        """Every valid playbook by name; a later path's playbook replaces an earlier one's."""
        out: dict[str, Playbook] = {}
        for path in self.files():
            playbook = load_file(path)
            out[playbook.name] = playbook
        return out

    def get(self, name: str) -> Playbook:
        for path in reversed(self.files()):
            if path.stem == name:
                playbook = load_file(path)
                if playbook.name == name:
                    return playbook
        playbooks = self.load()
        if name not in playbooks:
            raise NotFound("playbook", name)
        return playbooks[name]
