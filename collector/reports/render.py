"""Rendering a report model as HTML (self-contained), Markdown or JSON.

The HTML is one file a customer's IT manager can open or print: inline styles, inline
SVG charts, no scripts, no external resources; the most severe findings come first.
Figures in the HTML carry ``data-figure`` attributes naming their place in the JSON,
which is how the tests prove that both say the same thing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from collector.reports import charts

FORMATS = ("html", "md", "json")
KINDS = ("inspection", "monthly", "engineers")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
               "json": "application/json"}


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}%"


def _frac(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _local(value: float | str | None, tz: str = "UTC", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or value == "":
        return "—"
    dt = datetime.fromisoformat(value) if isinstance(value, str) else datetime.fromtimestamp(value, UTC)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ZoneInfo(tz)).strftime(fmt)


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value if value is not None else "—").replace("|", "\\|").replace("\n", " ")


def _line(series: list[Any], title: str, unit: str = "", y_max: float | None = None,
          threshold: float | None = None) -> Markup:
    pairs = [(str(name), [(float(t), float(v)) for t, v in pts]) for name, pts in series]
    return Markup(charts.line_chart(pairs, title=title, unit=unit, y_max=y_max, threshold=threshold))  # noqa: S704


def _fs_chart(filesystems: list[dict[str, Any]]) -> Markup:
    series = [[fs["mountpoint"], fs.get("trend", [])] for fs in filesystems]
    return _line(series, "Filesystem use", "%", 1.0, 0.85)


def _bars(items: dict[str, float] | list[Any], title: str, severity: bool = False) -> Markup:
    pairs = list(items.items()) if isinstance(items, dict) else [(str(k), float(v)) for k, v in items]
    colours = charts.SEVERITY_COLOURS if severity else None
    return Markup(charts.bar_chart(pairs, title=title, colours=colours))  # noqa: S704


def _environment() -> Environment:
    # HTML templates escape everything; Markdown templates are text (their cells go through ``md``).
    env = Environment(
        loader=PackageLoader("collector.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, frac=_frac, duration=_duration, local=_local, md=_md)
    env.globals.update(line_chart=_line, bar_chart=_bars, fs_chart=_fs_chart,
                       severity_colours=charts.SEVERITY_COLOURS)
    return env


_ENV: list[Environment] = []


def _env() -> Environment:
    # Built on first use, not at import time.
    if not _ENV:
        _ENV.append(_environment())
    return _ENV[0]


def render(model: dict[str, Any], fmt: str) -> str:
    """The report ``model`` (its ``kind`` picks the template) as ``fmt``: html, md or json."""
    kind = model["kind"]
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    if fmt == "json":
        return json.dumps(model, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if fmt == "html":
        return _env().get_template(f"{kind}.html").render(r=model)
    if fmt == "md":
        return _env().get_template(f"{kind}.md").render(r=model)
    raise ValueError(f"unknown format {fmt!r} (html, md or json)")


def render_all(model: dict[str, Any]) -> dict[str, str]:
    """Every format of the report, by format name."""
    return {fmt: render(model, fmt) for fmt in FORMATS}
