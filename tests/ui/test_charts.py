"""The charts of polyflow/ui/charts.py on their own: scales, and the SVG the scatter, lines and
parallel coordinates draw (points where the scales put them, empty data, one point, no NaN)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from polyflow.ui import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def circles(svg: str, cls: str = "point") -> list[dict]:
    return [node.attrib for node in parse(svg).iter(f"{SVG}circle") if cls in node.get("class", "").split()]


def polylines(svg: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, pair.split(","))) for pair in node.get("points").split()]
            for node in parse(svg).iter(f"{SVG}polyline")]


def test_a_linear_scale_maps_its_domain_onto_its_range_with_round_ticks():
    scale = charts.LinearScale(0, 10, 100, 300)
    assert (scale(0), scale(5), scale(10)) == (100, 200, 300)
    assert [text for _, text in scale.ticks()] == ["0", "2", "4", "6", "8", "10"]
    flipped = charts.LinearScale(0.1, 0.3, 190, 10)  # a y axis: up the page
    assert flipped(0.1) == 190 and flipped(0.3) == pytest.approx(10)
    assert [text for _, text in flipped.ticks()] == ["0.1", "0.15", "0.2", "0.25", "0.3"]
    assert [text for _, text in charts.LinearScale(-1, 1, 0, 1).ticks()] == ["-1", "-0.5", "0", "0.5", "1"]


def test_a_log_scale_spaces_decades_evenly():
    scale = charts.LogScale(0.001, 0.1, 0, 200)
    assert scale(0.001) == 0 and scale(0.01) == pytest.approx(100) and scale(0.1) == pytest.approx(200)
    assert [text for _, text in scale.ticks()] == ["0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1"]
    wide = charts.LogScale(1e-6, 1, 0, 600)
    assert [text for _, text in wide.ticks()] == ["1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1"]


def test_scale_for_picks_the_scale_by_the_values():
    assert isinstance(charts.scale_for([1, 2, None], 0, 100), charts.LinearScale)
    assert isinstance(charts.scale_for([0.001, 0.1], 0, 100, log=True), charts.LogScale)
    assert isinstance(charts.scale_for([-1, 0.1], 0, 100, log=True), charts.LinearScale)  # not all positive
    categories = charts.scale_for(["adam", "sgd", "adam", True], 0, 90)
    assert isinstance(categories, charts.CategoryScale)
    assert categories.categories == ("adam", "sgd", "true")
    assert (categories("adam"), categories("sgd"), categories(True)) == (15, 45, 75)
    one = charts.scale_for([3.0], 0, 100)  # a lone value: a domain around it, the value in the middle
    assert one(3.0) == 50


def test_scatter_points_land_where_the_scales_say():
    points = [charts.Point(0.001, 0.5, "a", "0"), charts.Point(0.01, 0.7, "b", "1", best=True),
              charts.Point(0.1, 0.6, "c", "2")]
    svg = charts.scatter(points, x_label="lr", y_label="accuracy", log_x=True)
    frame = charts.Frame()
    x = charts.scale_for([0.001, 0.01, 0.1], frame.left, frame.right, log=True)
    y = charts.scale_for([0.5, 0.7, 0.6], frame.bottom, frame.top)
    drawn = {c["data-key"]: (float(c["cx"]), float(c["cy"]), c["class"]) for c in circles(svg)}
    for point in points:
        cx, cy, cls = drawn[point.key]
        assert cx == pytest.approx(x(point.x), abs=0.05) and cy == pytest.approx(y(point.y), abs=0.05)
        assert ("best" in cls) == point.best
    # The middle decade is in the middle; the best point is drawn last (on top), larger.
    assert drawn["1"][0] == pytest.approx((frame.left + frame.right) / 2, abs=0.05)
    assert [c["data-key"] for c in circles(svg)][-1] == "1"
    assert "lr (log)" in svg and "<title>b</title>" in svg


def test_scatter_with_categories_and_values_it_cannot_place():
    points = [charts.Point("adam", 0.5, key="0"), charts.Point("sgd", 0.7, key="1"),
              charts.Point("adam", float("nan"), key="2"), charts.Point(None, 0.6, key="3")]
    svg = charts.scatter(points, x_label="optimizer", y_label="accuracy")
    assert [c["data-key"] for c in circles(svg)] == ["0", "1"]
    assert ">adam<" in svg and ">sgd<" in svg


def test_empty_charts_say_so():
    for svg in (charts.scatter([], x_label="lr", y_label="accuracy", empty="no accuracy yet"),
                charts.lines([charts.Series("t", [])], x_label="step", y_label="loss"),
                charts.parallel([charts.Axis("lr", [0.1])], [charts.Row("t")], metric=charts.Axis("m", [None]))):
        root = parse(svg)
        assert root.get("class").startswith("chart")
        assert [node.get("class") for node in root.iter(f"{SVG}text")] == ["no-data"]
    assert "no accuracy yet" in charts.scatter([], x_label="lr", y_label="accuracy", empty="no accuracy yet")


def test_lines_draw_a_polyline_per_series_and_a_dot_for_a_lone_point():
    series = [charts.Series("tune[0]", [(1, 0.2), (2, 0.4), (3, 0.5)], "0"),
              charts.Series("tune[1]", [(1, 0.3), (2, 0.6)], "1", best=True),
              charts.Series("tune[2]", [(1, 0.1)], "2")]
    svg = charts.lines(series, x_label="step", y_label="accuracy")
    frame = charts.Frame()
    x = charts.scale_for([1, 2, 3, 1, 2, 1], frame.left, frame.right)
    y = charts.scale_for([0.2, 0.4, 0.5, 0.3, 0.6, 0.1], frame.bottom, frame.top)
    first, best = polylines(svg)  # the best last, on top
    assert first == [pytest.approx((x(s), y(v)), abs=0.05) for s, v in series[0].points]
    assert best == [pytest.approx((x(s), y(v)), abs=0.05) for s, v in series[1].points]
    assert re.findall(r'<polyline class="([^"]+)" data-key="(\d)"', svg) == [("series", "0"), ("series best", "1")]
    dot, = circles(svg, "series")
    assert (float(dot["cx"]), float(dot["cy"])) == pytest.approx((x(1), y(0.1)), abs=0.05)


def test_one_point_alone_sits_in_the_middle():
    svg = charts.lines([charts.Series("s", [(5, 2.0)])], x_label="step", y_label="loss")
    dot, = circles(svg, "series")
    frame = charts.Frame()
    assert float(dot["cx"]) == pytest.approx((frame.left + frame.right) / 2, abs=0.05)
    assert float(dot["cy"]) == pytest.approx((frame.top + frame.bottom) / 2, abs=0.05)
    scatter = charts.scatter([charts.Point(0.01, 0.5)], x_label="lr", y_label="accuracy", log_x=True)
    point, = circles(scatter)
    assert float(point["cx"]) == pytest.approx((frame.left + frame.right) / 2, abs=0.05)


def test_parallel_coordinates_draw_each_trial_through_every_axis():
    axes = [charts.Axis("lr", [0.001, 0.01, 0.1], log=True), charts.Axis("optimizer", ["adam", "sgd", "adam"])]
    rows = [charts.Row("t0", "0"), charts.Row("t1", "1", best=True), charts.Row("t2", "2")]
    svg = charts.parallel(axes, rows, metric=charts.Axis("accuracy", [0.5, 0.9, None]))
    frame = charts.PARALLEL
    drawn = polylines(svg)
    assert len(drawn) == 2  # the trial without a metric is left out
    assert [len(line) for line in drawn] == [3, 3]
    assert [point[0] for point in drawn[0]] == pytest.approx([frame.left, (frame.left + frame.right) / 2,
                                                             frame.right], abs=0.05)
    # Coloured from the lowest metric to the highest; the best drawn last.
    assert re.findall(r'data-key="(\d)"[^>]*stroke="(#[0-9a-f]{6})"', svg) == [("0", "#f59e0b"), ("1", "#4f46e5")]
    assert "lr (log)" in svg and ">optimizer<" in svg


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.none())


@given(st.lists(st.tuples(NUMBERS, NUMBERS), max_size=12), st.booleans())
@example([(-1e308, 1e308), (1e308, -1e308)], False)  # a span that overflows
@example([(5e-324, 1.0), (1e150, 2.0)], True)  # a span of decades that overflows
@example([(0.0, 1.0), (5e-324, 2.0)], False)  # a span that underflows
@example([(1.0, 1.0), (1.0 + 1e-15, 1.0 + 1e-15)], False)  # a span below rounding
@example([(float("nan"), 1.0)], True)
def test_no_nan_or_infinity_reaches_the_svg(pairs, log):
    svgs = [
        charts.scatter([charts.Point(x, y) for x, y in pairs], x_label="x", y_label="y", log_x=log),
        charts.lines([charts.Series("s", [(x, y) for x, y in pairs])], x_label="x", y_label="y"),
        charts.parallel([charts.Axis("x", [x for x, _ in pairs], log)], [charts.Row("r") for _ in pairs],
                        metric=charts.Axis("y", [y for _, y in pairs])),
    ]
    for svg in svgs:
        root = parse(svg)
        for node in root.iter():
            for name, value in node.attrib.items():
                if name in {"cx", "cy", "x", "y", "x1", "x2", "y1", "y2", "r", "width", "height"}:
                    assert math.isfinite(float(value)), (name, value)
        assert not re.search(r"\b(nan|inf)\b", svg, re.IGNORECASE)


def test_text_is_escaped():
    nasty = '<script>alert("x")</script>&'
    svgs = [charts.scatter([charts.Point(nasty, 1.0, nasty, nasty)], x_label=nasty, y_label=nasty),
            charts.lines([charts.Series(nasty, [(1, 1.0)], nasty)], x_label=nasty, y_label=nasty),
            charts.parallel([charts.Axis(nasty, [nasty])], [charts.Row(nasty, nasty)], metric=charts.Axis(nasty, [1]))]
    for svg in svgs:
        parse(svg)
        assert "<script" not in svg
