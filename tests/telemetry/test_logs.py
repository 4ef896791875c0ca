"""Log lines carry the run, pipeline, op and attempt they are about, as JSON or as text."""

import datetime as dt
import json
import logging

from polyflow.backends.base import FAILED, Observation, Submission
from polyflow.scheduler.tick import tick
from polyflow.services.runs import trigger_run
from polyflow.telemetry.context import about, current
from polyflow.telemetry.logs import ContextFilter, ContextFormatter, JsonFormatter
from polyflow.testing.backends import InstantBackend

CHAIN = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: a, template: {name: t}}
  - {name: b, template: {name: t}, dependencies: [a]}
templates:
  - kind: job
    name: t
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
backend_logger = logging.getLogger("polyflow.backends.chatty")


class ChattyBackend(InstantBackend):
    """A backend that logs while it submits, as the Kubernetes one does when it retries."""

    def submit(self, submission: Submission) -> str:
        backend_logger.warning("creating the pod for %s took a second try", submission.key)
        return super().submit(submission)


def test_a_json_line_of_the_scheduler_carries_the_run_it_is_about(apply, capture_logs):
    logs = capture_logs("json")
    run = trigger_run(apply(CHAIN))
    report = tick(NOW, InstantBackend())
    run.refresh_from_db()
    assert run.status == "succeeded", report.lines()

    submitted = [entry for entry in logs.entries() if entry["message"].startswith("submitted ")]
    assert [(e["logger"], e["level"], e["run_uuid"], e["pipeline"], e["op"], e["attempt"]) for e in submitted] == [
        ("polyflow.scheduler", "DEBUG", str(run.uuid), "chain", op, "1") for op in ("a", "b")]
    assert all(entry["time"].endswith("Z") for entry in submitted)


def test_a_backend_line_during_a_submit_carries_the_attempt(apply, capture_logs):
    logs = capture_logs("json", logging.WARNING)
    run = trigger_run(apply(CHAIN))
    tick(NOW, ChattyBackend())
    lines = [entry for entry in logs.entries() if entry["logger"] == "polyflow.backends.chatty"]
    assert [(e["run_uuid"], e["op"], e["attempt"]) for e in lines] == [(str(run.uuid), "a", "1"),
                                                                       (str(run.uuid), "b", "1")]


class HugeExitCode(InstantBackend):
    """Reports an exit code no integer column holds: the database refuses the run's write."""

    def _observe(self, key):
        return Observation(FAILED, exit_code=2**40, reason="failed", message="from a broken backend")


def test_a_run_that_cannot_be_written_is_logged_with_its_context_in_text_too(apply, capture_logs):
    logs = capture_logs("text", logging.ERROR)
    run = trigger_run(apply(CHAIN))
    backend = HugeExitCode()
    tick(NOW, backend)  # a is submitted
    tick(NOW, backend)  # its end cannot be written
    first = logs.text.splitlines()[0]
    assert first.endswith(f"write failed [run={run.uuid} pipeline=chain]"), logs.text
    assert " ERROR polyflow.scheduler: " in first
    # The traceback stays under the line, as it was.
    assert logs.text.splitlines()[1] == "Traceback (most recent call last):"


def test_lines_outside_any_run_carry_no_context(capture_logs):
    logs = capture_logs("json", logging.INFO)
    logging.getLogger("polyflow.scheduler").info("tick: nothing to do")
    (entry,) = logs.entries()
    assert entry["message"] == "tick: nothing to do"
    assert not {"run_uuid", "pipeline", "op", "attempt"} & set(entry)


def test_an_inner_block_adds_to_the_outer_and_both_are_undone():
    with about("u-1", "chain"):
        with about(op="b", attempt=2):
            assert current() == {"run_uuid": "u-1", "pipeline": "chain", "op": "b", "attempt": "2"}
        assert current() == {"run_uuid": "u-1", "pipeline": "chain"}
    assert current() == {}


def _record(message="hello", **extra):
    record = logging.LogRecord("polyflow.scheduler", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    ContextFilter().filter(record)
    return record


def test_the_text_format_keeps_the_handlers_own_format_and_appends_the_context():
    formatter = ContextFormatter(inner=logging.Formatter("[%(levelname)s] %(message)s"))
    with about("u-1", "chain", "a", 1):
        record = _record()
    assert formatter.format(record) == "[INFO] hello [run=u-1 pipeline=chain op=a attempt=1]"
    assert formatter.format(_record()) == "[INFO] hello"


def test_extra_fields_are_keys_of_the_json_line():
    line = JsonFormatter().format(_record("GET /metrics 200", method="GET", status=200))
    assert json.loads(line) == {**json.loads(line), "message": "GET /metrics 200", "method": "GET", "status": 200}
    assert "\n" not in line
