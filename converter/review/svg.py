"""Charts as static inline SVG (no script, no fonts or images to fetch): stacked bars, vertical (one
bar per day) or horizontal (one bar per performer or level). Every text is escaped; coordinates are
written with one decimal, so the same data gives the same bytes. An all-zero chart still draws its
frame, with a message."""

from __future__ import annotations

import math

from .model import Chart
from .text import esc

WIDTH = 720
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
AXIS = "#9e9e9e"
GRID = "#e0e0e0"
LABEL_CHARS = 34


def _n(value: float) -> str:
    return f"{value:.1f}"


def nice_max(value: int) -> tuple[int, int]:
    """An axis maximum at or above `value` and its tick step (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1, 1
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    step = max(int(step), 1)
    return int(math.ceil(value / step) * step), step


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _legend(chart: Chart, y: float) -> list[str]:
    out, x = [], 8.0
    for series in chart.series:
        out.append(f'<rect x="{_n(x)}" y="{_n(y - 10)}" width="12" height="12" fill="{series.color}"/>')
        out.append(f'<text x="{_n(x + 16)}" y="{_n(y)}" {FONT}>{esc(series.name)}</text>')
        x += 28 + 7.5 * len(series.name)
    return out


def _frame(chart: Chart, height: float, body: list[str]) -> str:
    title = esc(chart.title)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{esc(chart.id)}" width="{WIDTH}" height="{_n(height)}" '
            f'viewBox="0 0 {WIDTH} {_n(height)}" role="img" aria-label="{title}">')
    return "\n".join([head, f"<title>{title}</title>", f'<rect x="0" y="0" width="{WIDTH}" height="{_n(height)}" fill="#ffffff"/>',
                      *body, "</svg>"])


def _empty(chart: Chart) -> str:
    height = 120.0
    body = [f'<rect x="8" y="8" width="{WIDTH - 16}" height="{_n(height - 16)}" fill="none" stroke="{AXIS}"/>',
            f'<text class="empty" x="{WIDTH / 2:.1f}" y="{_n(height / 2 + 4)}" text-anchor="middle" {FONT} fill="#616161">'
            f"{esc(chart.empty)}</text>"]
    return _frame(chart, height, body)


def _totals(chart: Chart) -> list[int]:
    return [sum(s.values[i] for s in chart.series) for i in range(len(chart.categories))]


def vertical(chart: Chart) -> str:
    totals = _totals(chart)
    top, left, right, plot_h, bottom = 36.0, 48.0, 16.0, 200.0, 56.0
    height = top + plot_h + bottom
    top_value, step = nice_max(max(totals))
    plot_w = WIDTH - left - right
    slot = plot_w / len(chart.categories)
    bar = max(slot * 0.7, 1.0)
    body = _legend(chart, 20)
    for tick in range(0, top_value + 1, step):
        y = top + plot_h - plot_h * tick / top_value
        body.append(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(WIDTH - right)}" y2="{_n(y)}" stroke="{GRID}"/>')
        body.append(f'<text x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end" {FONT}>{tick}</text>')
    label_every = max(1, math.ceil(len(chart.categories) / 16))
    for i, category in enumerate(chart.categories):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for series in chart.series:
            value = series.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            body.append(f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(h)}" fill="{series.color}">'
                        f"<title>{esc(category)}: {value} {esc(series.name)}</title></rect>")
        if totals[i] and len(chart.categories) <= 31:
            body.append(f'<text x="{_n(x + bar / 2)}" y="{_n(y - 4)}" text-anchor="middle" {FONT}>{totals[i]}</text>')
        if i % label_every == 0:
            lx, ly = x + bar / 2, top + plot_h + 14
            body.append(f'<text x="{_n(lx)}" y="{_n(ly)}" text-anchor="end" transform="rotate(-40 {_n(lx)} {_n(ly)})" {FONT}>'
                        f"{esc(category[5:] if len(category) == 10 else category)}</text>")
    body.append(f'<line x1="{_n(left)}" y1="{_n(top + plot_h)}" x2="{_n(WIDTH - right)}" y2="{_n(top + plot_h)}" stroke="{AXIS}"/>')
    return _frame(chart, height, body)


def horizontal(chart: Chart) -> str:
    totals = _totals(chart)
    top, label_w, right, row = 36.0, 240.0, 56.0, 24.0
    height = top + row * len(chart.categories) + 12
    top_value, _step = nice_max(max(totals))
    plot_w = WIDTH - label_w - right
    body = _legend(chart, 20) if tuple(s.name for s in chart.series) != chart.categories else []
    for i, category in enumerate(chart.categories):
        y = top + row * i
        shown = category if category else "(none)"
        body.append(f'<text x="{_n(label_w - 8)}" y="{_n(y + 15)}" text-anchor="end" {FONT}><title>{esc(shown)}</title>'
                    f"{esc(_short(shown))}</text>")
        x = label_w
        for series in chart.series:
            value = series.values[i]
            if value <= 0:
                continue
            w = plot_w * value / top_value
            body.append(f'<rect class="bar" x="{_n(x)}" y="{_n(y + 3)}" width="{_n(w)}" height="{_n(row - 6)}" fill="{series.color}">'
                        f"<title>{esc(shown)}: {value} {esc(series.name)}</title></rect>")
            x += w
        body.append(f'<text x="{_n(x + 6)}" y="{_n(y + 15)}" {FONT}>{totals[i]}</text>')
    body.append(f'<line x1="{_n(label_w)}" y1="{_n(top - 4)}" x2="{_n(label_w)}" y2="{_n(height - 8)}" stroke="{AXIS}"/>')
    return _frame(chart, height, body)


def render(chart: Chart) -> str:
    if not chart.categories or not any(_totals(chart)):
        return _empty(chart)
    return vertical(chart) if chart.orientation == "vertical" else horizontal(chart)
