"""Building blocks of upkeep's Grafana dashboards: panels, variables, a layout that numbers them.

The dashboards are generated, not hand-edited, so that every panel gets a unique id, every query
names the ``$datasource`` variable, and a test can read back the exact PromQL a panel runs.
Only the Grafana JSON model is used (schemaVersion 39, Grafana 10 and later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel; ``instant`` for tables and stats that show the latest value."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


@dataclass(frozen=True)
class Panel:
    """A panel before layout: its kind, title, queries, unit and size (width out of 24, height)."""

    kind: str
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


def datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "regex": "",
        "refresh": 1,
        "hide": 0,
        "current": {},
        "options": [],
    }


def query_variable(name: str, label: str, query: str, *, multi: bool) -> dict[str, Any]:
    """A variable filled by ``label_values(...)``; a multi-value one offers All as ``.*``."""
    variable: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,
        "sort": 1,
        "hide": 0,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "regex": "",
    }
    if multi:
        variable["allValue"] = ".*"
    return variable


def _targets(queries: tuple[Query, ...]) -> list[dict[str, Any]]:
    targets = []
    for i, q in enumerate(queries):
        target: dict[str, Any] = {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "range": not q.instant,
            "instant": q.instant,
            "editorMode": "code",
        }
        if q.table:
            target["format"] = "table"
        targets.append(target)
    return targets


def _field_config(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": p.unit,
        "color": {
            "mode": "thresholds" if p.kind in {"stat", "bargauge", "status-history"} else "palette-classic"
        },
        "thresholds": {
            "mode": "absolute",
            "steps": [{"value": value, "color": color} for value, color in p.thresholds],
        },
    }
    if p.minimum is not None:
        defaults["min"] = p.minimum
    if p.maximum is not None:
        defaults["max"] = p.maximum
    if p.decimals is not None:
        defaults["decimals"] = p.decimals
    return {"defaults": defaults, "overrides": []}


def _panel_options(p: Panel) -> dict[str, Any]:
    base: dict[str, Any]
    if p.kind == "stat":
        base = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "auto",
        }
    elif p.kind == "bargauge":
        base = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
        }
    elif p.kind == "status-history":
        base = {"showValue": "never", "rowHeight": 0.9, "legend": {"showLegend": False}}
    elif p.kind == "table":
        base = {"showHeader": True}
    else:
        base = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    base.update(p.options)
    return base


class Layout:
    """Places panels left to right in rows of 24 columns and numbers them 1, 2, 3, ..."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_height = 0
        self._next_id = 1

    def _take_id(self) -> int:
        ident = self._next_id
        self._next_id += 1
        return ident

    def row(self, title: str) -> None:
        """Start a new row with a header."""
        self._newline()
        self.panels.append(
            {
                "id": self._take_id(),
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": self._y, "w": GRID_WIDTH, "h": 1},
                "panels": [],
            }
        )
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_height
            self._x = 0
            self._row_height = 0

    def add(self, p: Panel) -> None:
        if self._x + p.width > GRID_WIDTH:
            self._newline()
        panel: dict[str, Any] = {
            "id": self._take_id(),
            "type": p.kind,
            "title": p.title,
            "description": p.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": self._x, "y": self._y, "w": p.width, "h": p.height},
            "targets": _targets(p.queries),
            "fieldConfig": _field_config(p),
            "options": _panel_options(p),
        }
        if p.kind == "table":
            panel["transformations"] = [{"id": "merge", "options": {}}]
        self.panels.append(panel)
        self._x += p.width
        self._row_height = max(self._row_height, p.height)


def dashboard(
    *, uid: str, title: str, description: str, variables: list[dict[str, Any]], layout: Layout
) -> dict[str, Any]:
    """The dashboard document Grafana's file provisioning loads."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["upkeep"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["upkeep"],
                "asDropdown": True,
                "title": "upkeep",
                "includeVars": True,
            }
        ],
        "templating": {"list": variables},
        "panels": layout.panels,
    }


def stat(title: str, expr: str, **kw: Any) -> Panel:
    """A single latest value (or one per series), coloured by its thresholds."""
    kw.setdefault("width", 4)
    kw.setdefault("height", 5)
    return Panel("stat", title, (Query(expr, legend=kw.pop("legend", ""), instant=True),), **kw)


def bars(title: str, *queries: tuple[str, str], **kw: Any) -> Panel:
    """Horizontal bars of the latest values; each query is ``(expr, legend)``."""
    return Panel("bargauge", title, tuple(Query(e, legend=lg, instant=True) for e, lg in queries), **kw)


def graph(title: str, *queries: tuple[str, str], **kw: Any) -> Panel:
    """Lines over time; each query is ``(expr, legend)``."""
    return Panel("timeseries", title, tuple(Query(e, legend=lg) for e, lg in queries), **kw)


def heat(title: str, expr: str, legend: str, **kw: Any) -> Panel:
    """One coloured row per series over time: a heat map of hosts."""
    return Panel("status-history", title, (Query(expr, legend=legend),), **kw)


def table(title: str, expr: str, **kw: Any) -> Panel:
    return Panel("table", title, (Query(expr, instant=True, table=True),), **kw)
