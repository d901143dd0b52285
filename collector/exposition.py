"""``/metrics`` (the collector's own figures) and ``/federate`` (the fleet's latest samples).

``/metrics`` exposes a registry built per application: process and platform
figures plus every collector the areas put in ``ctx.metrics`` (each AppContext has
its own, so several apps can live in one process).

``/federate`` follows Prometheus' own endpoint: one or more ``match[]`` series
selectors, the latest sample of every matching series within the lookback (5 min),
stale series left out, each with its timestamp; every series carries ``host`` and
``customer``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import promql_parser
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from collector.core.window import Series
from collector.errors import InvalidInput

router = APIRouter()

LOOKBACK = 300.0


def build_registry(collectors: Iterable[object]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    for c in collectors:
        registry.register(c)  # type: ignore[arg-type]
    return registry


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    state = request.app.state
    registry = getattr(state, "metrics_registry", None)
    if registry is None:
        registry = build_registry(state.ctx.metrics)
        state.metrics_registry = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# -- /federate -----------------------------------------------------------------------------------
Matcher = tuple[str, str, object]  # (label, op, value or compiled regex)


def parse_selector(text: str) -> list[Matcher]:
    """A ``match[]`` selector as a list of matchers; InvalidInput for anything but a series selector."""
    try:
        expr = promql_parser.parse(text)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a series selector: {exc}", field="match[]") from None
    if type(expr).__name__ != "VectorSelector":
        raise InvalidInput("only series selectors are allowed", field="match[]")
    out: list[Matcher] = []
    if expr.name:
        out.append(("__name__", "=", expr.name))
    for m in expr.matchers.matchers:
        op = str(m.op).rsplit(".", 1)[-1]
        if op in ("Re", "NotRe"):
            out.append((m.name, "=~" if op == "Re" else "!~", re.compile(f"^(?:{m.value})$")))
        else:
            out.append((m.name, "=" if op == "Equal" else "!=", m.value))
    if not any(_nonempty(m) for m in out):
        raise InvalidInput(
            "a selector must have a matcher that does not match the empty string", field="match[]"
        )
    return out


def _nonempty(m: Matcher) -> bool:
    _label, op, value = m
    if op == "=":
        return value != ""
    if op == "=~":
        return not value.fullmatch("")  # type: ignore[union-attr]
    if op == "!=":
        return value == ""
    return bool(value.fullmatch(""))  # type: ignore[union-attr]


def matches(labels: dict[str, str], matchers: list[Matcher]) -> bool:
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=":
            ok = have == value
        elif op == "!=":
            ok = have != value
        elif op == "=~":
            ok = value.fullmatch(have) is not None  # type: ignore[union-attr]
        else:
            ok = value.fullmatch(have) is None  # type: ignore[union-attr]
        if not ok:
            return False
    return True


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def render_series(series: Iterable[tuple[Series, float, float]]) -> str:
    """Prometheus text format (0.0.4), grouped by metric name, ``# TYPE x untyped`` as federation does."""
    lines: list[str] = []
    current = None
    for s, ts, v in sorted(series, key=lambda t: t[0].key):
        name = s.labels["__name__"]
        if name != current:
            lines.append(f"# TYPE {name} untyped")
            current = name
        labels = ",".join(f'{k}="{_escape(val)}"' for k, val in s.key if k != "__name__")
        lines.append(f"{name}{{{labels}}} {_format_value(v)} {int(ts * 1000)}")
    return "\n".join(lines) + ("\n" if lines else "")


# Async on purpose: the window is only touched from the event loop thread, and not while a
# rule round reads it from its own (recording rules write to it).
@router.get("/federate", include_in_schema=False)
async def federate(request: Request) -> Response:
    selectors = request.query_params.getlist("match[]")
    if not selectors:
        raise InvalidInput("at least one match[] selector is required", field="match[]")
    parsed = [parse_selector(s) for s in selectors]
    ctx = request.app.state.ctx
    await ctx.gate.free()
    window = ctx.window
    now = ctx.clock.now().timestamp()
    chosen: dict[tuple[tuple[str, str], ...], tuple[Series, float, float]] = {}
    for matchers in parsed:
        name = next((v for label, op, v in matchers if label == "__name__" and op == "="), None)
        candidates = window.series_named(name) if isinstance(name, str) else window.all_series()
        for s in list(candidates):
            if s.key in chosen or not matches(s.labels, matchers):
                continue
            got = s.at(now, LOOKBACK)
            if got is not None:
                chosen[s.key] = (s, got[0], got[1])
    return Response(render_series(chosen.values()), media_type=CONTENT_TYPE_LATEST)
