"""Small charts as inline SVG, drawn on the server like the DAG (no charting library, no CDN).

Pure functions: data in, an SVG string out. One job each:

- **scales** map values to pixels: `LinearScale` (with round ticks), `LogScale` (decades)
  and `CategoryScale` (strings, booleans: one band each); `scale_for` picks one;
- **axes** draw a scale's ticks, grid lines and label along a side of the plot;
- **scatter** draws points (a metric against one param), the best one marked;
- **lines** draws series (a metric against its steps), one polyline each, the best on top;
- **parallel** draws parallel coordinates: one vertical axis per param and one for the metric,
  a polyline per trial, coloured by its metric.

Whatever the data, no NaN or infinity reaches the SVG (values that are not finite numbers
are left out of numeric axes), and every text is escaped. Elements carry classes
(`point`, `series`, `best`, ...) and `data-*` attributes for the stylesheet and the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 360, 230
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 14, 12, 40  # room for tick labels and axis titles
TICKS = 5
POINT_R = 3.5
BEST_R = 5.5


LIMIT = 1e150  # numbers beyond it (or, on a log axis, positive ones below its inverse) are not placed:
# the arithmetic of a scale over them would overflow to infinity or underflow to zero


def finite(value) -> bool:
    """A number a numeric axis can place (bools are categories, not 0 and 1)."""
    kind = type(value)
    if kind is float or kind is int:
        # The charts of a 1,000-trial group ask this of 100,000 values: one comparison (NaN fails it,
        # infinities are past LIMIT).
        return -LIMIT <= value <= LIMIT
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= LIMIT


def number(value: float) -> str:
    """A value as a label: 0.001, 2.5e+06, 12."""
    return f"{value:.4g}"


def _px(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# -- Scales ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearScale:
    lo: float
    hi: float
    start: float  # the pixel of lo
    end: float  # the pixel of hi (smaller than start for a y axis: SVG's y grows downwards)

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        step = _round_step((self.hi - self.lo) / TICKS)
        first = math.ceil(self.lo / step - 1e-9)
        values = [index * step for index in range(first, first + TICKS + 2) if index * step <= self.hi + step * 1e-9]
        # round(): 0.30000000000000004 is 0.3; `or 0.0`: no "-0" label.
        return [(self(value), number(round(value, 12) or 0.0)) for value in values]


@dataclass(frozen=True)
class LogScale:
    lo: float  # > 0
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        low, high = math.log10(self.lo), math.log10(self.hi)
        return self.start + (math.log10(value) - low) / (high - low) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        low, high = math.floor(math.log10(self.lo) + 1e-9), math.ceil(math.log10(self.hi) - 1e-9)
        # Decades (every few of them over many), and 2 and 5 of each when the axis spans few.
        factors = (1, 2, 5) if high - low <= 2 else (1,)
        every = max(1, math.ceil((high - low) / (TICKS + 1)))
        values = [factor * 10.0 ** power for power in range(low, high + 1, every) for factor in factors]
        inside = [value for value in values if self.lo * (1 - 1e-9) <= value <= self.hi * (1 + 1e-9)]
        return [(self(value), number(value)) for value in inside]


@dataclass(frozen=True)
class CategoryScale:
    categories: tuple[str, ...]  # in the order given
    start: float
    end: float

    def __call__(self, value) -> float:
        band = (self.end - self.start) / len(self.categories)
        return self.start + band * (self.categories.index(_category(value)) + 0.5)

    def ticks(self) -> list[tuple[float, str]]:
        return [(self(category), category) for category in self.categories]


Scale = LinearScale | LogScale | CategoryScale


def _round_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, the first at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw * (1 - 1e-9))


def _category(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else number(value) if finite(value) else str(value)


def numeric(values: Sequence) -> bool:
    """Whether these values go on a numeric axis: all of those present are numbers (NaN included:
    it has no place on the axis, but does not make it an axis of categories)."""
    present = [value for value in values if value is not None]
    return bool(present) and all(isinstance(value, int | float) and not isinstance(value, bool) for value in present)


def scale_for(values: Sequence, start: float, end: float, *, log: bool = False) -> Scale:
    """The scale of an axis over `values`: numbers on a linear axis (a log one when asked and all
    are positive), anything else one band per distinct value."""
    if not numeric(values):
        return CategoryScale(tuple(dict.fromkeys(_category(value) for value in values if value is not None)) or ("",),
                             start, end)
    numbers = [value for value in values if finite(value)] or [0.0]
    lo, hi = min(numbers), max(numbers)
    if log and lo >= 1 / LIMIT:
        # The same margin in decades: half a decade each side of a lone value.
        pad = 10 ** (0.05 * math.log10(hi / lo)) if hi > lo else 10 ** 0.5
        return LogScale(lo / pad, hi * pad, start, end)
    if hi - lo <= max(abs(lo), abs(hi)) * 1e-9 or hi - lo < 1 / LIMIT:  # one value, give or take rounding
        pad = abs(lo) * 0.1 or 1.0
    else:  # a margin, so that points do not sit on the frame
        pad = (hi - lo) * 0.05
    return LinearScale(lo - pad, hi + pad, start, end)


def placeable(scale: Scale, value) -> bool:
    """Whether `value` has a place on `scale` (a finite number, positive on a log axis; any category)."""
    if isinstance(scale, CategoryScale):
        return value is not None and _category(value) in scale.categories
    return finite(value) and (not isinstance(scale, LogScale) or value >= 1 / LIMIT)


# -- Axes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """The plot area inside an SVG of `width` x `height`: what the paddings leave."""

    width: float = WIDTH
    height: float = HEIGHT
    pad_left: float = PAD_LEFT
    pad_right: float = PAD_RIGHT

    @property
    def left(self) -> float:
        return self.pad_left

    @property
    def right(self) -> float:
        return self.width - self.pad_right

    @property
    def top(self) -> float:
        return PAD_TOP

    @property
    def bottom(self) -> float:
        return self.height - PAD_BOTTOM


# Parallel coordinates name their axes under them: room for the outer names on both sides.
PARALLEL = Frame(width=560, pad_left=44, pad_right=44)


def _line(cls: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{cls}" x1="{_px(x1)}" y1="{_px(y1)}" x2="{_px(x2)}" y2="{_px(y2)}"/>'


def _text(cls: str, x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return (f'<text class="{cls}" x="{_px(x)}" y="{_px(y)}" text-anchor="{anchor}"{extra}>'
            f'{escape(text)}</text>')


def x_axis(scale: Scale, frame: Frame, label: str) -> str:
    """Ticks and vertical grid lines under the plot, the label below them."""
    out = ['<g class="axis x">']
    for x, text in scale.ticks():
        out.append(_line("gridline", x, frame.top, x, frame.bottom)
                   + _text("tick-text", x, frame.bottom + 14, _short(text)))
    out.append(_line("frame", frame.left, frame.bottom, frame.right, frame.bottom))
    out.append(_text("label", (frame.left + frame.right) / 2, frame.height - 6, label) + "</g>")
    return "".join(out)


def y_axis(scale: Scale, frame: Frame, label: str) -> str:
    """Ticks and horizontal grid lines left of the plot, the label turned along them."""
    out = ['<g class="axis y">']
    for y, text in scale.ticks():
        out.append(_line("gridline", frame.left, y, frame.right, y)
                   + _text("tick-text", frame.left - 5, y + 3.5, _short(text), "end"))
    out.append(_line("frame", frame.left, frame.top, frame.left, frame.bottom))
    middle = (frame.top + frame.bottom) / 2
    out.append(_text("label", 12, middle, label, extra=f' transform="rotate(-90 12 {_px(middle)})"') + "</g>")
    return "".join(out)


def _short(text: str, most: int = 9) -> str:
    return text if len(text) <= most else text[:most - 1] + "\u2026"


def _svg(kind: str, frame: Frame, label: str, body: Sequence[str]) -> SafeString:
    head = (f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" width="{_px(frame.width)}"'
            f' height="{_px(frame.height)}" viewBox="0 0 {_px(frame.width)} {_px(frame.height)}" role="img"'
            f' aria-label="{escape(label)}">')
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every text in the body is escaped


def _empty(kind: str, frame: Frame, label: str, note: str) -> SafeString:
    return _svg(kind, frame, label, [_text("no-data", frame.width / 2, frame.height / 2, note)])


# -- Scatter ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: object  # a number, or a category (a string, a bool)
    y: float
    title: str = ""  # its tooltip
    key: str = ""  # data-key, e.g. the trial's index
    best: bool = False


def scatter(points: Sequence[Point], *, x_label: str, y_label: str, log_x: bool = False,
            frame: Frame = Frame(), empty: str = "no values yet") -> SafeString:
    """`y` against `x`, one circle per point that both axes can place; the best one last, larger."""
    kept = [point for point in points if finite(point.y)]
    if not kept:
        return _empty("scatter", frame, f"{y_label} by {x_label}", empty)
    x_scale = scale_for([point.x for point in kept], frame.left, frame.right, log=log_x)
    y_scale = scale_for([point.y for point in kept], frame.bottom, frame.top)
    body = [x_axis(x_scale, frame, x_label + (" (log)" if isinstance(x_scale, LogScale) else "")),
            y_axis(y_scale, frame, y_label), '<g class="points">']
    for point in sorted((p for p in kept if placeable(x_scale, p.x)), key=lambda p: p.best):
        radius = BEST_R if point.best else POINT_R
        body.append(f'<circle class="point{" best" if point.best else ""}" data-key="{escape(point.key)}"'
                    f' cx="{_px(x_scale(point.x))}" cy="{_px(y_scale(point.y))}" r="{radius}">'
                    f'<title>{escape(point.title)}</title></circle>')
    body.append("</g>")
    return _svg("scatter", frame, f"{y_label} by {x_label}", body)


# -- Lines -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (x, y), in x order
    key: str = ""
    best: bool = False


def lines(series: Sequence[Series], *, x_label: str, y_label: str, frame: Frame = Frame(),
          empty: str = "no points yet") -> SafeString:
    """One polyline per series (a lone point is a dot); the best one drawn last, on top."""
    kept = [(item, [(x, y) for x, y in item.points if finite(x) and finite(y)]) for item in series]
    kept = [(item, points) for item, points in kept if points]
    if not kept:
        return _empty("lines", frame, f"{y_label} by {x_label}", empty)
    x_scale = scale_for([x for _, points in kept for x, _ in points], frame.left, frame.right)
    y_scale = scale_for([y for _, points in kept for _, y in points], frame.bottom, frame.top)
    body = [x_axis(x_scale, frame, x_label), y_axis(y_scale, frame, y_label), '<g class="series-set">']
    for item, points in sorted(kept, key=lambda pair: pair[0].best):
        classes = "series best" if item.best else "series"
        title = f"<title>{escape(item.label)}</title>"
        if len(points) == 1:
            (x, y), = points
            body.append(f'<circle class="{classes}" data-key="{escape(item.key)}" cx="{_px(x_scale(x))}"'
                        f' cy="{_px(y_scale(y))}" r="{BEST_R if item.best else POINT_R}">{title}</circle>')
        else:
            path = " ".join(f"{_px(x_scale(x))},{_px(y_scale(y))}" for x, y in points)
            body.append(f'<polyline class="{classes}" data-key="{escape(item.key)}" points="{path}">{title}</polyline>')
    body.append("</g>")
    return _svg("lines", frame, f"{y_label} by {x_label}", body)


# -- Parallel coordinates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    name: str
    values: Sequence  # one per row
    log: bool = False


@dataclass(frozen=True)
class Row:
    title: str
    key: str = ""
    best: bool = False


@dataclass(frozen=True)
class _Placed:
    axis: Axis
    x: float
    scale: Scale


LOW, HIGH = (245, 158, 11), (79, 70, 229)  # amber to indigo: the colours of a low and a high metric


def colour(share: float) -> str:
    """The colour between LOW (0) and HIGH (1)."""
    return "#" + "".join(f"{round(low + (high - low) * share):02x}" for low, high in zip(LOW, HIGH, strict=True))


def parallel(axes: Sequence[Axis], rows: Sequence[Row], *, metric: Axis, frame: Frame = PARALLEL,
             empty: str = "no values yet") -> SafeString:
    """Each row (a trial) a polyline through its value on every axis (the params, then the metric),
    coloured from low to high metric; rows without a metric are not drawn."""
    columns = [*axes, metric]
    drawn = [index for index, value in enumerate(metric.values) if finite(value)]
    if not drawn or not axes:
        return _empty("parallel", frame, "parallel coordinates", empty)
    gap = (frame.right - frame.left) / (len(columns) - 1)
    placed = [_Placed(axis, frame.left + index * gap,
                      scale_for([axis.values[row] for row in drawn], frame.bottom, frame.top, log=axis.log))
              for index, axis in enumerate(columns)]
    low, high = min(metric.values[row] for row in drawn), max(metric.values[row] for row in drawn)
    body = ['<g class="series-set">']
    for row in sorted(drawn, key=lambda index: rows[index].best):
        points = [(column.x, column.scale(column.axis.values[row])) for column in placed
                  if placeable(column.scale, column.axis.values[row])]
        share = 0.5 if high == low else (metric.values[row] - low) / (high - low)
        classes = "series best" if rows[row].best else "series"
        path = " ".join(f"{_px(x)},{_px(y)}" for x, y in points)
        body.append(f'<polyline class="{classes}" data-key="{escape(rows[row].key)}" points="{path}"'
                    f' stroke="{colour(share)}"><title>{escape(rows[row].title)}</title></polyline>')
    body.append("</g>")
    for column in placed:
        body.append(_vertical_axis(column, frame))
    return _svg("parallel", frame, "parallel coordinates", body)


def _vertical_axis(column: _Placed, frame: Frame) -> str:
    """One axis of the parallel coordinates: its line, ticks beside it and its name under it."""
    out = ['<g class="axis p">', _line("frame", column.x, frame.top, column.x, frame.bottom)]
    for y, text in column.scale.ticks():
        out.append(_text("tick-text", column.x - 4, y + 3.5, _short(text, 7), "end"))
    name = column.axis.name + (" (log)" if isinstance(column.scale, LogScale) else "")
    out.append(_text("label", column.x, frame.bottom + 16, name) + "</g>")
    return "".join(out)
