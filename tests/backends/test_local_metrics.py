"""The local backend's `read_metrics`: output.log from a byte offset, whole lines only, bounded."""

from __future__ import annotations

import time

from polyflow.backends import local, local_runner
from polyflow.scheduler.metric_lines import MAX_LINE_BYTES, parse_metric_lines

from .support import submission


def attempt(backend, key="m-1", log=b"", ended=False):
    directory = backend.root / key
    directory.mkdir(parents=True)
    (directory / local_runner.LOG).write_bytes(log)
    if ended:
        (directory / local_runner.RESULT).write_text('{"exit_code": 0}')
    return directory / local_runner.LOG


def test_reads_metric_lines_from_the_offset_and_leaves_a_line_being_written(backend):
    log = attempt(backend, log=b'starting\npolyflow:metrics {"loss": 1}\nplain\npolyflow:metrics {"lo')
    lines, cursor = backend.read_metrics({"m-1": ""})["m-1"]
    assert lines == ['polyflow:metrics {"loss": 1}']  # other lines are not passed on
    assert int(cursor) == len(b'starting\npolyflow:metrics {"loss": 1}\nplain\n')
    assert backend.read_metrics({"m-1": cursor}) == {"m-1": ([], cursor)}  # nothing read twice
    with open(log, "ab") as handle:
        handle.write(b'ss": 2}\r\npolyflow:metrics {"loss": 3}')
    lines, cursor = backend.read_metrics({"m-1": cursor})["m-1"]
    assert lines == ['polyflow:metrics {"loss": 2}']
    # Once the attempt has ended its last line is whole, newline or not.
    (log.parent / local_runner.RESULT).write_text('{"exit_code": 0}')
    lines, cursor = backend.read_metrics({"m-1": cursor})["m-1"]
    assert lines == ['polyflow:metrics {"loss": 3}'] and int(cursor) == log.stat().st_size


def test_unknown_attempts_are_left_out_and_an_empty_one_answers(backend):
    (backend.root / "no-log-yet-1").mkdir(parents=True)
    answer = backend.read_metrics({"never-submitted-1": "", "../escape": "", "no-log-yet-1": "", "bad-cursor-1": "x"})
    assert answer == {"no-log-yet-1": ([], "0")}


def test_a_read_is_bounded_and_the_rest_comes_next(backend):
    line = b'polyflow:metrics {"x": 1}\n'
    log = attempt(backend, log=line * 1000)
    lines, offset = local.metric_lines(log, 0, complete=False, budget=len(line) * 10 + 5)
    assert len(lines) == 10 and offset == len(line) * 10
    lines, offset = local.metric_lines(log, offset, complete=False, budget=len(line) * 2000)
    assert len(lines) == 990 and offset == log.stat().st_size


def test_an_overlong_line_is_passed_on_cut_for_the_parser_to_report_and_skipped(backend):
    huge = b'polyflow:metrics {"x": "' + b"a" * (3 * MAX_LINE_BYTES) + b'"}\n'
    log = attempt(backend, log=huge + b'polyflow:metrics {"y": 2}\n')
    lines, offset = local.metric_lines(log, 0, complete=False)
    assert offset == log.stat().st_size
    assert len(lines) == 2 and len(lines[0]) == MAX_LINE_BYTES + 1
    parsed = parse_metric_lines(lines)
    assert [record.values for record in parsed.records] == [{"y": 2.0}]
    assert parsed.problems().startswith("1 metric line(s) or value(s) ignored: 1 longer than 64 KiB")
    # A read that ends inside it passes its start on and goes past what it read; the next one
    # starts inside the line, which is then no metric line.
    first, offset = local.metric_lines(log, 0, complete=False, budget=2 * MAX_LINE_BYTES)
    assert offset == 2 * MAX_LINE_BYTES and len(first) == 1
    rest, offset = local.metric_lines(log, offset, complete=False)
    assert rest == ['polyflow:metrics {"y": 2}'] and offset == log.stat().st_size


def test_a_real_attempt_reports_while_it_runs(backend):
    handle = backend.submit(submission(["sh", "-c", 'echo "polyflow:metrics {\\"loss\\": 0.5}"; sleep 30']))
    log = backend.directory(handle) / local_runner.LOG
    deadline = time.monotonic() + 10
    while b"loss" not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert backend.read_metrics({handle: ""})[handle][0] == ['polyflow:metrics {"loss": 0.5}']
    backend.stop([handle])
