"""Small inline SVG charts for self-contained reports (no scripts, no external files).

Each function returns SVG markup as a string with every text escaped; the report
templates embed it as is. Charts carry a ``<title>`` so screen readers and printed
reports say what they show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")
SEVERITY_COLOURS = {"critical": "#b91c1c", "major": "#ea580c", "warning": "#ca8a04", "info": "#2563eb"}

Points = Sequence[tuple[float, float]]


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.0f}%"
    if abs(value) >= 100:
        return f"{value:.0f}{unit}"
    return f"{value:.2g}{unit}" if value else f"0{unit}"


def line_chart(
    series: Sequence[tuple[str, Points]],
    *,
    title: str,
    unit: str = "",
    y_max: float | None = None,
    threshold: float | None = None,
    width: int = 560,
    height: int = 150,
) -> str:
    """Lines of (unix time, value) points on shared axes; ``unit="%"`` reads values as fractions."""
    pts = [(t, v) for _, s in series for t, v in s if math.isfinite(v)]
    left, right, top, bottom = 44, 8, 18, 22
    pw, ph = width - left - right, height - top - bottom
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>'
            f'<text x="{left}" y="12" font-size="11" fill="#334155">{escape(title)}</text>')
    if not pts:
        return head + (f'<text x="{left + 4}" y="{top + ph / 2:.0f}" font-size="11" fill="#64748b">'
                       'no data for this period</text></svg>')
    t0, t1 = min(t for t, _ in pts), max(t for t, _ in pts)
    hi = y_max if y_max is not None else max(max(v for _, v in pts), threshold or 0.0) * 1.1 or 1.0
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return left + (t - t0) / span * pw

    def y(v: float) -> float:
        return top + ph - min(max(v / hi, 0.0), 1.0) * ph

    parts = [head,
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#f8fafc" stroke="#cbd5e1"/>']
    for frac in (0.0, 0.5, 1.0):
        yy = y(hi * frac)
        parts.append(f'<text x="{left - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="#475569">{escape(_fmt(hi * frac, unit))}</text>')
    for t in (t0, t1):
        label = datetime.fromtimestamp(t, UTC).strftime("%m-%d")
        anchor = "start" if t == t0 else "end"
        parts.append(f'<text x="{x(t):.1f}" y="{height - 6}" font-size="10" text-anchor="{anchor}" '
                     f'fill="#475569">{label}</text>')
    if threshold is not None:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                     'stroke="#dc2626" stroke-dasharray="4 3"/>')
    for i, (name, s) in enumerate(series):
        good = [(t, v) for t, v in s if math.isfinite(v)]
        if not good:
            continue
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in good)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}">'
                     f'<title>{escape(name)}</title></polyline>')
        if len(series) > 1:
            parts.append(f'<text x="{left + pw - 4}" y="{top + 12 + 12 * i}" font-size="10" '
                         f'text-anchor="end" fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, colours: dict[str, str] | None = None,
              width: int = 360) -> str:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    row = 18
    height = 20 + row * max(1, len(bars))
    top_value = max((v for _, v in bars), default=0.0) or 1.0
    label_w, bar_w = 90, width - 90 - 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(bars):
        yy = 10 + i * row
        colour = (colours or {}).get(label, PALETTE[0])
        w = bar_w * value / top_value
        parts.append(f'<text x="{label_w - 6}" y="{yy + 12}" font-size="11" text-anchor="end" '
                     f'fill="#334155">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{yy + 2}" width="{w:.1f}" height="{row - 6}" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{yy + 12}" font-size="11" '
                     f'fill="#334155">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)
