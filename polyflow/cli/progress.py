"""What `polyflow run` shows while it drives a run: a table of the ops redrawn in
place on a terminal (ANSI codes, no dependency), one line per status change
otherwise, and a summary at the end."""

from __future__ import annotations

import atexit
import datetime as dt
import os
import re
import shutil
import time
from pathlib import Path

from polyflow.cli.groups import (
    TRIAL_HEADER,
    best_so_far,
    counts,
    ended_texts,
    matrix_ops,
    outputs_text,
    progress,
    split,
    trial_rows,
)
from polyflow.cli.runs import _duration
from polyflow.statuses import OP_FINAL, OP_SUBMITTED, OpStatus, RunStatus

# Escape sequences and control characters an op may print: they would move the
# cursor inside the table.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.|[\x00-\x08\x0a-\x1f\x7f]")
# The local backend's first log line when a template names an image: true, but
# not what the op is doing.
_BACKEND_NOTE = "polyflow: local backend:"
LOG_REFRESH = 0.5  # seconds between two reads of an op's last log line
_S = OpStatus
_COLORS = {
    _S.SUCCEEDED: "32", _S.FAILED: "31", _S.UPSTREAM_FAILED: "31", _S.RUNNING: "33", _S.STARTING: "33",
    _S.SCHEDULED: "36", _S.RETRYING: "35", _S.STOPPING: "35", _S.STOPPED: "2", _S.SKIPPED: "2", _S.CREATED: "2",
}
_SUBMITTED = OP_SUBMITTED | {_S.STOPPING}
_FINAL = OP_FINAL
_FAILED = (_S.FAILED,)
# Statuses an op run may reach without its attempt having started.
_NOT_ATTEMPTED = (_S.SKIPPED, _S.UPSTREAM_FAILED, _S.CREATED)
MAX_SUMMARY_ROWS = 50  # more ops than this: the summary lists those that did not succeed


def clean(text: str) -> str:
    """One line of an op's output as plain text."""
    return _CONTROL.sub("", text.replace("\t", "    ")).strip()


def clip(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _clock(value: dt.datetime) -> str:
    return value.astimezone().strftime("%H:%M:%S")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


class Logs:
    """Op runs' log lines from their backend; the last line re-read at most every LOG_REFRESH s."""

    def __init__(self, backend):
        self.backend = backend
        self.others: dict[str, object] = {}
        self.last: dict[tuple[int, int], tuple[float, str]] = {}

    def backend_for(self, op_run):
        name = op_run.backend
        if not name or name == self.backend.name:
            return self.backend
        if name not in self.others:
            from polyflow.backends import get_backend

            try:
                self.others[name] = get_backend(name)
            except (KeyError, ImportError, AttributeError):
                self.others[name] = None
        return self.others[name]

    def path(self, op_run) -> Path | None:
        """The log file, for backends that keep it on this machine."""
        from polyflow.backends.local import LocalBackend
        from polyflow.backends.local_runner import LOG

        backend = self.backend_for(op_run)
        if op_run.handle and isinstance(backend, LocalBackend):
            return backend.directory(op_run.handle) / LOG
        return None

    def tail(self, op_run, lines: int) -> list[str]:
        backend = self.backend_for(op_run)
        if not op_run.handle or backend is None or lines <= 0:
            return []
        try:
            return backend.logs(op_run.handle, lines)
        except Exception as error:  # noqa: BLE001 - a log read never ends the command
            return [f"(cannot read the logs: {error})"]

    def last_line(self, op_run, final: bool) -> str:
        # Once final, an attempt's log does not change: it is read once more, then no more.
        key = (op_run.pk, op_run.attempt, final)
        now = time.monotonic()
        cached = self.last.get(key)
        if cached is not None and (final or now - cached[0] < LOG_REFRESH):
            return cached[1]
        line = self._read_last_line(op_run)
        self.last[key] = (now, line)
        return line

    def _read_last_line(self, op_run) -> str:
        path = self.path(op_run)
        if path is not None:
            try:
                with open(path, "rb") as log:
                    log.seek(0, os.SEEK_END)
                    size = log.tell()
                    log.seek(max(size - 8192, 0))
                    lines = log.read().decode("utf-8", "replace").splitlines()
            except OSError:
                return ""
        else:
            lines = self.tail(op_run, 3)
        for line in reversed(lines):
            text = clean(line)
            if text and not text.startswith(_BACKEND_NOTE):
                return text
        return ""


class Watcher:
    """Shows a run while `polyflow run` drives it."""

    def __init__(self, run, backend, stream, live: bool, log_lines: int = 10, ctrl_c: str = "Ctrl-C stops it"):
        self.run = run
        self.ctrl_c = ctrl_c  # what the live table's head says Ctrl-C does
        self.stream = stream
        self.live = live
        self.log_lines = log_lines
        self.logs = Logs(backend)
        self.color = live and not os.environ.get("NO_COLOR")
        self.drawn = 0  # lines of the live table on the screen
        self.last_run_history = 0
        self.last_op_history = 0
        self.matrix: dict | None = None  # {matrix op: its matrix}, read from the run's plan once
        self.tenths_shown: dict[str, int] = {}  # how far each group's progress lines have got
        self.started = time.monotonic()
        if live:
            self._write("\x1b[?25l")  # hide the cursor while redrawing
            atexit.register(self._restore_cursor)

    # -- output primitives ----------------------------------------------------------
    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _restore_cursor(self) -> None:
        if self.live:
            try:
                self._write("\x1b[?25h")
            except (OSError, ValueError):
                pass

    def _erase(self) -> None:
        if self.drawn:
            self._write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def note(self, message: str) -> None:
        """A line that stays, above the live table."""
        if self.live:
            self._erase()
            self._write(message + "\n")
        else:
            self._write(f"{_clock(dt.datetime.now(dt.UTC))} {message}\n")

    # -- while running ------------------------------------------------------------
    # -- what is read: the database here, the API in remote_watch.RemoteWatcher ----------------
    def op_runs_of(self, run) -> list:
        """The run's op runs (trials included), in the order they were made."""
        return list(run.op_runs.order_by("id"))

    def run_records(self, run, after: int):
        """The run's status changes after record `after`, oldest first."""
        from polyflow.models import PipelineRunStatus

        return PipelineRunStatus.objects.filter(run=run, pk__gt=after).order_by("id")

    def op_records(self, run, after: int):
        """Its op runs' status changes after record `after`, oldest first; each with its `op_run`
        (name, trial, label and, for a group, summary)."""
        from polyflow.models import OperationRunStatus

        return (OperationRunStatus.objects.filter(op_run__run=run, pk__gt=after)
                .select_related("op_run").only("pk", "status", "previous", "message", "attempt", "created_at",
                                               "op_run__name", "op_run__trial", "op_run__summary").order_by("id"))

    def trials_of(self, run, names: list[str]) -> list:
        """The trials of these matrix ops (name, trial and status read)."""
        from polyflow.models import OperationRun

        return list(OperationRun.objects.filter(run=run, trial__isnull=False, name__in=names)
                    .only("name", "trial", "status"))

    def update(self, run, stopping: bool = False) -> None:
        if self.live:
            self._draw(run, self.op_runs_of(run), stopping)
        else:
            self._print_changes(run)

    def _print_changes(self, run) -> None:
        events = []
        for record in self.run_records(run, self.last_run_history):
            self.last_run_history = record.pk
            if record.previous:
                # At the same time, a run starts before its ops and ends after them.
                order = 2 if record.status in _FINAL else 0
                events.append((record.created_at, order, record.pk, f"run: {record.status}"
                               + (f" ({record.message})" if record.message and record.status != "succeeded" else "")))
        records = self.op_records(run, self.last_op_history)
        trials_ended: dict[str, tuple] = {}  # group -> (time, record pk) of its latest trial end
        for record in records:
            self.last_op_history = record.pk
            op_run = record.op_run
            if not record.previous:
                continue
            if op_run.trial is not None:
                # A trial is shown when it fails; the rest is its group's progress.
                if record.status in _FINAL:
                    trials_ended[op_run.name] = (record.created_at, record.pk)
                if record.status not in (_S.FAILED, _S.RETRYING):
                    continue
            elif op_run.name in self._matrix(run):
                if record.status != _S.SCHEDULED:  # a group is scheduled and running at once
                    events.append((record.created_at, 1, record.pk, self._group_change(record)))
                continue
            text = f"{op_run.label}: {record.status}"
            never_started = record.status == _S.STOPPED and record.previous == _S.CREATED
            if record.status not in _NOT_ATTEMPTED and not never_started:
                text += f" (attempt {record.attempt})"
            if record.message and record.status not in (_S.RUNNING, _S.SUCCEEDED):
                text += f": {clean(record.message)}"
            events.append((record.created_at, 1, record.pk, text))
        events += self._progress_lines(run, trials_ended)
        for created_at, _, _, text in sorted(events, key=lambda event: event[:3]):
            self.stream.write(f"{_clock(created_at)} {text}\n")
        if events:
            self.stream.flush()

    def _matrix(self, run) -> dict:
        if self.matrix is None:
            self.matrix = matrix_ops(run)
        return self.matrix

    @staticmethod
    def _group_change(record) -> str:
        """`tune: running: 9 trial(s)`, `tune: succeeded: 9 of 9 trial(s) succeeded; best: trial 8 ...`."""
        ended = ended_texts(record.op_run) if record.status in _FINAL else []
        says = "; ".join(text for text in [clean(record.message), *ended] if text)
        return f"{record.op_run.name}: {record.status}" + (f": {says}" if says else "")

    def _progress_lines(self, run, trials_ended: dict[str, tuple]) -> list[tuple]:
        """A line of a group's progress each time another tenth of its trials is done (at
        most nine per group, however many trials it has), as of its latest trial's end; the
        last tenth is the group's own end."""
        if not trials_ended:
            return []
        _, trials = split(self.trials_of(run, list(trials_ended)))
        lines = []
        for name, (created_at, pk) in trials_ended.items():
            group = trials.get(name, [])
            done = sum(trial.status in _FINAL for trial in group)
            tenths = done * 10 // max(len(group), 1)
            if tenths > self.tenths_shown.get(name, 0) and done < len(group):
                self.tenths_shown[name] = tenths
                lines.append((created_at, 1, pk, f"{name}: {progress(group)}"))
        return lines

    def _draw(self, run, op_runs, stopping: bool) -> None:
        size = shutil.get_terminal_size((100, 30))
        width = max(size.columns - 1, 20)
        now = dt.datetime.now(dt.UTC)
        ending = stopping and run.status != RunStatus.STOPPED
        state = run.status + (" (stopping: Ctrl-C again to exit at once)" if ending else "")
        elapsed = _duration(run.started_at, run.finished_at, now) if run.started_at else ""
        head = f"{run.pipeline.name}  run {run.uuid.hex[:8]}  {state}  {elapsed}".rstrip()
        if not stopping and run.status not in _FINAL:
            head += f"  ({self.ctrl_c})"
        room = max(size.lines - 4, 3)
        ops, trials = split(op_runs)  # a group is one line, whatever its number of trials
        shown = ops
        hidden = []
        if len(ops) > room:
            # The ops at work first, then the failed ones, then the rest in order.
            ranked = sorted(ops, key=lambda o: (
                0 if o.status in _SUBMITTED or o.status == _S.RETRYING
                else 1 if o.status in (_S.FAILED, _S.UPSTREAM_FAILED) else 2, o.pk))
            keep = {o.pk for o in ranked[: room - 1]}
            shown = [o for o in ops if o.pk in keep]
            hidden = [o for o in ops if o.pk not in keep]
        name_width = min(max([len(o.name) for o in shown] + [2]), 40)
        lines = [clip(head, width), self._row(("OP", "STATUS", "ATTEMPT", "DURATION", "LOG"), name_width, width)]
        for op_run in shown:
            if op_run.name in trials:
                log, attempt = self._group_log(run, op_run, trials[op_run.name]), ""
            else:
                final = op_run.status in _FINAL
                log = self.logs.last_line(op_run, final) if op_run.handle else (op_run.message or "")
                attempt = str(op_run.attempt) if op_run.handle or op_run.attempt > 1 else ""
            lines.append(self._row((op_run.name, op_run.status, attempt,
                                    _duration(op_run.started_at, op_run.finished_at, now), clean(log)),
                                   name_width, width, status=op_run.status))
        if hidden:
            hidden_counts: dict[str, int] = {}
            for op_run in hidden:
                hidden_counts[op_run.status] = hidden_counts.get(op_run.status, 0) + 1
            lines.append(clip(f"… {len(hidden)} more: " + ", ".join(
                f"{n} {status}" for status, n in sorted(hidden_counts.items())), width))
        out = []
        if self.drawn:
            out.append(f"\x1b[{self.drawn}F")
        out.extend(f"\x1b[2K{line}\n" for line in lines)
        out.append("\x1b[J")
        self._write("".join(out))
        self.drawn = len(lines)

    def _group_log(self, run, group, trials) -> str:
        """A group's LOG cell: `3/9 done, 2 running  best accuracy=0.8`."""
        matrix = self._matrix(run).get(group.name)
        best = best_so_far(trials, matrix.metric) if matrix is not None and matrix.metric is not None else ""
        return f"{progress(trials)}  {best}".rstrip()

    def _row(self, cells, name_width: int, width: int, status: str = "") -> str:
        name, state, attempt, duration, log = cells
        text = f"{clip(name, name_width):<{name_width}}  {state:<15}  {attempt:<7}  {duration:<8}  "
        text = clip(text + log, width)
        if self.color and status in _COLORS and len(text) > name_width + 2:
            start = name_width + 2
            end = start + len(state)
            text = f"{text[:start]}\x1b[{_COLORS[status]}m{text[start:end]}\x1b[0m{text[end:]}"
        return text

    # -- at the end -----------------------------------------------------------------
    def abandon(self, run) -> None:
        """The second Ctrl-C: leave at once."""
        self._erase()
        self._restore_cursor()
        self.live = False
        try:
            self.stream.write(f"\nexiting at once: run {run.uuid} is left stopping; the next tick "
                              f"(`polyflow tick`, `polyflow server`) ends its processes\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def finish(self, run) -> None:
        width = None
        if self.live:
            self._erase()
            self._restore_cursor()
            self.live = False
            # On a terminal the table's rows keep to its width (long paths are cut; `polyflow runs show` has them).
            width = max(shutil.get_terminal_size((100, 30)).columns - 1, 40)
        else:
            self._print_changes(run)
        for line in self.summary(run, width):
            self.stream.write(line + "\n")
        self.stream.flush()

    def summary(self, run, width: int | None = None) -> list[str]:
        op_runs = self.op_runs_of(run)
        project = run.pipeline.project
        now = dt.datetime.now(dt.UTC)
        took = _duration(run.started_at, run.finished_at, now)
        lines = ["", f"run {run.uuid} of {project.owner.get_username()}/{project.name}/{run.pipeline.name}: "
                     f"{run.status}" + (f" in {took}" if took else "")
                 + (f" ({run.message})" if run.message and run.status != "succeeded" else ""), ""]
        ops, trials = split(op_runs)
        shown = ops
        if len(ops) > MAX_SUMMARY_ROWS:
            shown = [o for o in ops if o.status != _S.SUCCEEDED]
        rows = []
        for op_run in shown:
            if op_run.name in trials:
                # A group: its trials counted by status, and its best one.
                detail = "; ".join([counts(trials[op_run.name]), *ended_texts(op_run)])
            else:
                detail = outputs_text(op_run.outputs)
            if not detail and op_run.status not in (_S.SUCCEEDED, _S.SKIPPED) and op_run.message:
                detail = clean(op_run.message)
            attempt = str(op_run.attempt) if op_run.handle or op_run.attempt > 1 else ""
            rows.append([op_run.name, op_run.status, attempt,
                         _duration(op_run.started_at, op_run.finished_at, now), detail])
        if rows:
            lines += self._clipped(_table(["OP", "STATUS", "ATTEMPT", "DURATION", "OUTPUTS / MESSAGE"], rows), width)
        if len(shown) < len(ops):
            lines.append(f"… and {len(ops) - len(shown)} more ops succeeded")
        lines += self._logs_section(run, op_runs, bool(trials))
        for op_run in ops:
            if op_run.status in _FAILED and op_run.name in trials:
                lines += self._group_failure(run, op_run, trials[op_run.name], now, width)
            elif op_run.status in _FAILED:
                lines += self._failure(op_run)
        return lines

    @staticmethod
    def _clipped(lines: list[str], width: int | None) -> list[str]:
        return [clip(line, width) for line in lines] if width else lines

    def _logs_section(self, run, op_runs, with_trials: bool) -> list[str]:
        submitted = [o for o in op_runs if o.handle]
        if not submitted:
            return []
        hint = f"`polyflow logs {run.uuid} OP`" + (" (a trial: OP[INDEX])" if with_trials else "")
        path = self.logs.path(submitted[0])
        if path is None:
            return ["", f"logs: {hint}"]
        root = path.parent.parent
        return ["", f"logs: {hint}", f"      or output.log in each op's attempt directory under {root}/, e.g.",
                f"      {path}"]

    def _group_failure(self, run, group, trials, now, width: int | None) -> list[str]:
        """Why a group failed, its failed trials (at most MAX_SUMMARY_ROWS), and the log lines of
        the first (the others' are a `polyflow logs` away)."""
        failed = [trial for trial in trials if trial.status in _FAILED]
        lines = ["", f"{group.name} failed: {clean(group.message) or group.reason or 'failed'}"]
        if not failed:
            return lines
        table = _table(TRIAL_HEADER, trial_rows(failed[:MAX_SUMMARY_ROWS], now))
        lines += self._clipped([f"  {line}" for line in table], width)
        if len(failed) > MAX_SUMMARY_ROWS:
            lines.append(f"  … and {len(failed) - MAX_SUMMARY_ROWS} more failed trials: "
                         f"`polyflow runs show {run.uuid} --trials`")
        return lines + self._failure(failed[0])

    def _failure(self, op_run) -> list[str]:
        why = clean(op_run.message) or op_run.reason or "failed"
        lines = ["", f"{op_run.label} failed (attempt {op_run.attempt}): {why}"]
        tail = self.logs.tail(op_run, self.log_lines)
        if self.log_lines and tail:
            path = self.logs.path(op_run)
            where = f" of {path}" if path else ""
            lines.append(f"  last {len(tail)} log line{'s' if len(tail) != 1 else ''}{where}:")
            lines += [f"    {line.rstrip()}" for line in tail]
        elif self.log_lines:
            lines.append("  (no log lines)")
        return lines
