"""The one parser of metric lines (pure), and the helper that prints them (docs/metrics.md)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from polyflow import tracking
from polyflow.scheduler.metric_lines import (
    MAX_LINE_BYTES,
    MAX_NAMES,
    Record,
    is_metric_line,
    parse_metric_lines,
)


def line(payload) -> str:
    return "polyflow:metrics " + (payload if isinstance(payload, str) else json.dumps(payload))


def test_records_with_and_without_steps():
    parsed = parse_metric_lines([
        "epoch 1 done",  # not a metric line: skipped silently
        line({"step": 3, "accuracy": 0.91, "loss": 0.2}),
        line({"loss": 0.1}),  # no step: one more than the last
        '  polyflow:metrics{"accuracy": 1}\r',  # spaces, no space after the prefix, a CR
    ])
    assert parsed.records == [Record(3, {"accuracy": 0.91, "loss": 0.2}), Record(4, {"loss": 0.1}),
                              Record(5, {"accuracy": 1.0})]
    assert parsed.latest == {"step": 5, "accuracy": 1.0, "loss": 0.1}
    assert parsed.last_step == 5
    assert parsed.problems() is None


def test_steps_continue_from_the_last_read_and_start_at_zero():
    assert parse_metric_lines([line({"x": 1})]).records == [Record(0, {"x": 1.0})]
    assert parse_metric_lines([line({"x": 1})], last_step=41).records == [Record(42, {"x": 1.0})]
    # An explicit step may go back (a training resumed from a checkpoint): the next follows it.
    parsed = parse_metric_lines([line({"step": 2, "x": 1}), line({"x": 2})], last_step=10)
    assert [record.step for record in parsed.records] == [2, 3]


def test_integers_are_numbers_and_big_ones_too():
    parsed = parse_metric_lines([line({"step": 2**63 - 1, "count": 10**30})])
    assert parsed.records == [Record(2**63 - 1, {"count": 1e30})]


@pytest.mark.parametrize(("text", "why"), [
    (line("{not json"), "not valid JSON"),
    (line(""), "not valid JSON"),
    (line("[1, 2]"), "not a JSON object"),
    (line('"loss"'), "not a JSON object"),
    (line({"step": -1, "x": 1}), "a step that is not an integer >= 0"),
    (line({"step": 1.5, "x": 1}), "a step that is not an integer >= 0"),
    (line({"step": True, "x": 1}), "a step that is not an integer >= 0"),
    (line({"step": "3", "x": 1}), "a step that is not an integer >= 0"),
    (line({"step": 2**63, "x": 1}), "a step that is not an integer >= 0"),
    (line({}), "no metric values"),
    (line({"step": 4}), "no metric values"),
    (line({"x": float("nan")}), "NaN or Infinity"),
    (line('{"x": Infinity}'), "NaN or Infinity"),
    (line('{"x": -Infinity}'), "NaN or Infinity"),
    (line('{"x": 1e400}'), "NaN or Infinity"),
    (line({"x": True}), "not a number"),
    (line({"x": "0.5"}), "not a number"),
    (line({"x": None}), "not a number"),
    (line({"x": [1]}), "not a number"),
    (line({"x": {"y": 1}}), "not a number"),
    (line({"val loss": 1}), "not a metric name"),
    (line({"1x": 1}), "not a metric name"),
    (line({"": 1}), "not a metric name"),
    (line({"x" * 129: 1}), "not a metric name"),
    (line('{"x": ' + "[" * 100000 + "]" * 100000 + "}"), "longer than 64 KiB"),
    (line('{"x": ' + "[" * 5000 + "]" * 5000 + "}"), "not valid JSON"),  # nested too deep for json
])
def test_what_is_ignored_is_counted_and_said_once(text, why):
    parsed = parse_metric_lines([text, text, line({"ok": 1})])
    assert parsed.records == [Record(0, {"ok": 1.0})]
    assert parsed.latest == {"step": 0, "ok": 1.0}
    problems = parsed.problems()
    assert problems.startswith("2 metric line(s) or value(s) ignored: 2 " + why), problems
    assert problems.count("first:") == 1


def test_a_bad_value_leaves_the_good_ones_of_its_line():
    parsed = parse_metric_lines([line('{"step": 7, "loss": NaN, "accuracy": 0.5, "bad name": 1}')])
    assert parsed.records == [Record(7, {"accuracy": 0.5})]
    assert parsed.problems() == ("2 metric line(s) or value(s) ignored: 1 NaN or Infinity (first: 'loss': 'NaN'); "
                                 "1 not a metric name (an identifier of at most 128 characters) "
                                 "(first: 'bad name')")


def test_lines_just_within_the_size_limit_are_read():
    payload = '{"x": 1, "pad": 1' + " " * (MAX_LINE_BYTES - 40) + "}"
    text = line(payload)
    assert len(text.encode()) <= MAX_LINE_BYTES
    assert parse_metric_lines([text]).records == [Record(0, {"x": 1.0, "pad": 1.0})]
    wide = line('{"x": 1, "é": 1' + "é" * (MAX_LINE_BYTES // 2) + "}")  # characters of two bytes
    assert len(wide) < MAX_LINE_BYTES < len(wide.encode())
    assert parse_metric_lines([wide]).problems().startswith("1 metric line(s) or value(s) ignored: 1 longer than")


def test_other_prefixes_are_not_metric_lines():
    assert not is_metric_line("polyflow:metricsx {}")
    assert not is_metric_line("INFO polyflow:metrics {}")  # only at the start of a line
    assert not is_metric_line("+ echo 'polyflow:metrics {}'")  # sh -x echoing the command
    assert is_metric_line("polyflow:metrics")
    assert parse_metric_lines(["polyflow:metrics"]).problems().startswith("1 metric line(s) or value(s) ignored: "
                                                                         "1 not valid JSON")


def test_at_most_the_limit_of_points_thinned_evenly_with_the_last_kept():
    lines = [line({"loss": step / 10, "accuracy": step / 20}) for step in range(1000)]
    lines += [line({"lr": 0.1})]  # a metric reported once keeps its point
    parsed = parse_metric_lines(lines, limit=101)
    assert parsed.points <= 101
    assert parsed.thinned == 2001 - parsed.points
    loss = [(record.step, record.values["loss"]) for record in parsed.records if "loss" in record.values]
    assert loss[0] == (0, 0.0) and loss[-1] == (999, 99.9)
    gaps = {b[0] - a[0] for a, b in zip(loss, loss[1:], strict=False)}
    assert max(gaps) - min(gaps) <= 1, gaps  # evenly
    assert any("lr" in record.values for record in parsed.records)
    # The latest values come from every line read, kept or not.
    assert parsed.latest == {"step": 1000, "loss": 99.9, "accuracy": 49.95, "lr": 0.1}
    assert parsed.problems().endswith("left out (thinned evenly)")
    assert "points" not in (parse_metric_lines(lines[:50], limit=101).problems() or "")


def test_at_most_max_names_metric_names_per_attempt():
    known = [f"m{i}" for i in range(MAX_NAMES - 1)]
    parsed = parse_metric_lines([line({"m0": 1, "new": 2, "newer": 3})], known=known)
    assert parsed.records == [Record(0, {"m0": 1.0, "new": 2.0})]
    assert f"1 more than {MAX_NAMES} metric names (first: 'newer')" in parsed.problems()


def test_log_metrics_prints_one_line_that_parses_back(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    tracking.log_metrics(step=3, accuracy=0.91, loss=0.2)
    tracking.log_metrics(loss=0.1, epochs=2)
    assert out.getvalue() == ('polyflow:metrics {"step": 3, "accuracy": 0.91, "loss": 0.2}\n'
                              'polyflow:metrics {"loss": 0.1, "epochs": 2}\n')
    parsed = parse_metric_lines(out.getvalue().splitlines())
    assert parsed.records == [Record(3, {"accuracy": 0.91, "loss": 0.2}), Record(4, {"loss": 0.1, "epochs": 2.0})]


def test_log_metrics_refuses_mistakes_and_prints_nan_for_the_parser_to_ignore():
    with pytest.raises(TypeError):
        tracking.metrics_line(loss="0.5")
    with pytest.raises(TypeError):
        tracking.metrics_line(done=True)
    with pytest.raises(ValueError):
        tracking.metrics_line(step=-1, loss=1)
    with pytest.raises(TypeError):
        tracking.metrics_line(step=1.5, loss=1)
    with pytest.raises(ValueError):
        tracking.metrics_line(**{"val loss": 1})
    text = tracking.metrics_line(step=1, loss=float("nan"), accuracy=0.5)
    assert text == 'polyflow:metrics {"step": 1, "loss": NaN, "accuracy": 0.5}'
    assert parse_metric_lines([text]).records == [Record(1, {"accuracy": 0.5})]


def test_log_metrics_in_a_process_without_django():
    code = ("import sys; from polyflow.tracking import log_metrics; log_metrics(step=1, loss=0.5); "
            "print('django' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == 'polyflow:metrics {"step": 1, "loss": 0.5}\n'
    assert done.stderr.strip() == "False"
