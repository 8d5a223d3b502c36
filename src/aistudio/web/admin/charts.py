"""Server-rendered SVG charts (bars, stacked bars, a line, horizontal bars): no JavaScript, no CDN.

Each function returns a complete `<svg>` element as markup-safe text with a title, axes, tick labels and
a legend where there are several series. Values are plain numbers (roubles, counts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 32, 44
PALETTE = ("#2f7d4f", "#c0392b", "#7f8c8d", "#2c6fbb", "#b9770e")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (0 always included)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


class _Frame:
    """Plot area and the value → y mapping shared by the chart kinds."""

    def __init__(self, labels: Sequence[str], low: float, high: float, title: str) -> None:
        self.labels = labels
        self.ticks = nice_ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM
        self.slot = self.plot_w / max(len(labels), 1)
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" '
            f'aria-label="{escape(title)}">',
            f'<text x="{LEFT}" y="18" class="chart-title">{escape(title)}</text>',
        ]

    def y(self, value: float) -> float:
        return TOP + self.plot_h * (self.high - value) / (self.high - self.low)

    def axes(self) -> None:
        for tick in self.ticks:
            y = self.y(tick)
            self.parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_label(tick)}</text>'
            )
        zero = self.y(0)
        self.parts.append(f'<line x1="{LEFT}" y1="{zero:.1f}" x2="{WIDTH - RIGHT}" y2="{zero:.1f}" class="axis"/>')
        self.parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + self.plot_h}" class="axis"/>')
        every = max(1, math.ceil(len(self.labels) / 10))
        for i, label in enumerate(self.labels):
            if i % every == 0 or i == len(self.labels) - 1:
                x = LEFT + self.slot * (i + 0.5)
                self.parts.append(
                    f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">'
                    f"{escape(label)}</text>"
                )

    def legend(self, series: Sequence[Series]) -> None:
        x = LEFT
        for s in series:
            self.parts.append(
                f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{s.color}"/>'
                f'<text x="{x + 14}" y="{HEIGHT - 7}" class="legend">{escape(s.name)}</text>'
            )
            x += 24 + 8 * len(s.name)

    def done(self) -> Markup:
        self.parts.append("</svg>")
        return Markup("".join(self.parts))  # every text above is escaped


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Stacked vertical bars (one series: plain bars); negative values hang below zero."""
    totals_up = [sum(max(s.values[i], 0) for s in series) for i in range(len(labels))]
    totals_down = [sum(min(s.values[i], 0) for s in series) for i in range(len(labels))]
    frame = _Frame(labels, min(totals_down, default=0), max(totals_up, default=0), title)
    frame.axes()
    bar_w = frame.slot * 0.7
    for i, label in enumerate(labels):
        x = LEFT + frame.slot * i + (frame.slot - bar_w) / 2
        up = down = 0.0
        for s in series:
            value = s.values[i]
            base = up if value >= 0 else down
            top, bottom = (base + value, base) if value >= 0 else (base, base + value)
            y1, y2 = frame.y(top), frame.y(bottom)
            if value >= 0:
                up += value
            else:
                down += value
            if y2 - y1 > 0:
                frame.parts.append(
                    f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bar_w:.1f}" height="{y2 - y1:.1f}" fill="{s.color}">'
                    f"<title>{escape(label)} · {escape(s.name)}: {value:g}</title></rect>"
                )
    if len(series) > 1:
        frame.legend(series)
    return frame.done()


def line_chart(title: str, labels: Sequence[str], series: Series) -> Markup:
    values = list(series.values)
    frame = _Frame(labels, min(values, default=0), max(values, default=0), title)
    frame.axes()
    points = [(LEFT + frame.slot * (i + 0.5), frame.y(v)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    frame.parts.append(f'<polyline points="{path}" fill="none" stroke="{series.color}" stroke-width="2"/>')
    for (x, y), label, value in zip(points, labels, values, strict=True):
        frame.parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{series.color}">'
            f"<title>{escape(label)}: {value:g}</title></circle>"
        )
    return frame.done()


def horizontal_bars(title: str, items: Sequence[tuple[str, float]], color: str = PALETTE[3]) -> Markup:
    """Ranked bars with their names on the left (top models)."""
    row_h, name_w = 22, 230
    height = TOP + row_h * max(len(items), 1) + 24
    high = max((v for _, v in items), default=0) or 1
    ticks = nice_ticks(0, high, 4)
    span = ticks[-1]
    plot_w = WIDTH - name_w - RIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="chart" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(title)}</text>',
    ]
    bottom = TOP + row_h * max(len(items), 1)
    for tick in ticks:
        x = name_w + plot_w * tick / span
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" class="grid"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" class="tick" text-anchor="middle">{_label(tick)}</text>'
        )
    parts.append(f'<line x1="{name_w}" y1="{TOP}" x2="{name_w}" y2="{bottom}" class="axis"/>')
    for i, (name, value) in enumerate(items):
        y = TOP + row_h * i
        short = name if len(name) <= 34 else name[:33] + "…"
        parts.append(
            f'<text x="{name_w - 6}" y="{y + 15}" class="tick" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{name_w}" y="{y + 4}" width="{plot_w * value / span:.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{escape(name)}: {value:g}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped
