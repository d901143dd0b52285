"""Checks shared by the report tests: the HTML parses with balanced tags and agrees with the JSON."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# SVG elements written self-closed (<rect .../>) are start-and-end in one.


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.figures: dict[str, str] = {}
        self._figure: tuple[str, int] | None = None
        self._text: list[str] = []
        self.tags: set[str] = set()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag in VOID:
            return
        self.stack.append(tag)
        if "data-figure" in a:
            self._figure = (str(a["data-figure"]), len(self.stack))
            self._text = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        if self._figure and self._figure[1] == len(self.stack):
            self.figures[self._figure[0]] = "".join(self._text).strip()
            self._figure = None
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._figure:
            self._text.append(data)


def parse_html(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [], checker.errors[:5]
    assert checker.stack == [], f"unclosed: {checker.stack}"
    assert "script" not in checker.tags, "a self-contained report has no scripts"
    return checker


def lookup(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = model[int(part)] if isinstance(model, list) else model[part]
    return model


def formatted(path: str, value: Any) -> str:
    """How the HTML writes a JSON value at ``path``."""
    if value is None:
        return "—"
    last = path.rsplit(".", 1)[-1]
    if last == "percent":
        return f"{value:.1f}%"
    if last == "availability":
        return f"{value * 100:.2f}%"
    if last.endswith("_seconds"):
        minutes = round(value / 60)
        if minutes < 60:
            return f"{minutes} min"
        hours, minutes = divmod(minutes, 60)
        if hours < 48:
            return f"{hours} h {minutes:02d} min"
        days, hours = divmod(hours, 24)
        return f"{days} d {hours} h"
    if last in {"average", "satisfaction_average"}:
        return f"{value:.2f}"
    return str(value)


def assert_html_matches_json(html: str, json_text: str, at_least: int = 5) -> dict[str, str]:
    """Every ``data-figure`` in the HTML shows the JSON's value at that path."""
    model = json.loads(json_text)
    figures = parse_html(html).figures
    assert len(figures) >= at_least, figures
    for path, shown in figures.items():
        assert shown == formatted(path, lookup(model, path)), (path, shown, lookup(model, path))
    return figures
