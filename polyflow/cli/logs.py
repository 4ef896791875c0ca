"""`polyflow logs RUN [OP] [-f] [--attempt N] [--tail N]`: op runs' logs, from the backend that ran them."""

from __future__ import annotations

import re
import signal
import sys
import time

import click

from polyflow.cli.django_setup import command_errors, setup_database
from polyflow.cli.refs import project_option, resolve, run_argument
from polyflow.statuses import OpStatus

# A bound the lines a log can have (and what a deque or a Kubernetes tailLines takes) stays within.
MAX_TAIL = 1_000_000
# A bound on attempts (a retries' `limit` is far below it): what --attempt takes.
MAX_ATTEMPT = 1_000_000
FOLLOW_PAUSE = 0.5  # seconds between two reads of the logs while following


@click.command()
@run_argument
@click.argument("op", required=False)
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing new lines until the op ends (without OP: until the run ends, new ops included).")
@click.option("--attempt", type=click.IntRange(min=1, max=MAX_ATTEMPT), metavar="N",
              help="The log of attempt N of OP (default: its latest).")
@click.option("--tail", type=click.IntRange(min=1, max=MAX_TAIL), metavar="N",
              help="Only the last N lines (of each op, without OP).")
@project_option
def logs(run_ref: str, op: str | None, follow: bool, attempt: int | None, tail: int | None,
         project: tuple[str, str] | None) -> None:
    """Print the log of op OP in run RUN (its latest attempt), or of every op.

    The lines come from the backend that ran it (for the local backend, the
    op's stdout and stderr). Without OP, the logs of every op that was
    submitted, in the run's order, each line prefixed with the op's name. A
    trial of a matrix op is OP[INDEX], e.g. `tune[3]`; the matrix op itself
    stands for all its trials.

    RUN: a UUID, a unique prefix of it, or @latest (see `polyflow runs --help`).

    An op not submitted yet has no logs: that is said on stderr, exit status
    0. An op that failed before it ran (its submit was refused) has none
    either: its failure message is printed on stderr instead, and the exit
    status is 1 when nothing else was shown.

    Exit status: 0 when logs were shown (or there are none yet), 1 when RUN or
    OP names nothing or only failures before running were there to show, 2 on
    usage errors, 130 after Ctrl-C while following.
    """
    if attempt is not None and op is None:
        raise click.UsageError("--attempt N needs OP: the attempt of which op")
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        sys.exit(_remote_logs(api, run_ref, project, op, attempt, tail, follow))
    setup_database()
    from polyflow.selectors.runs import get_op_run

    with command_errors():
        run = resolve(run_ref, project)
        selected = None
        if op is not None:
            selected = get_op_run(run, *_name_and_trial(op))
            if attempt is not None:
                from polyflow.selectors.logs import attempt_handle

                attempt_handle(selected, attempt)  # refused when the op run had no such attempt
    reader = _Reader(run, selected, attempt, tail, prefixed=selected is None or _is_group(selected))
    with command_errors():
        code = reader.follow() if follow else reader.once()
    sys.exit(code)


def _remote_logs(api, run_ref: str, project, op: str | None, attempt: int | None, tail: int | None,
                 follow: bool) -> int:
    """`logs` against a server: the lines the API gives of each op's attempt, as the database mode prints
    them (the same prefixes, the same messages for ops with none), read once or followed; the exit status."""
    from polyflow.cli import remote
    from polyflow.statuses import OP_FINAL, RUN_FINAL

    run = remote.resolve_run(api, run_ref, project)
    path = remote.run_api_path(run)
    name = trial = None
    if op is not None:
        name, trial = _name_and_trial(op)
        # The API's answer for an unknown op (or trial) names the run's ops (or the op's trials).
        api.get(f"{path}ops/{name}/" + (f"trials/{trial}/" if trial is not None else ""))
    printed: dict[tuple[str, int], int] = {}  # (op run, attempt) -> lines printed
    failures_said: set[tuple[str, int]] = set()
    shown = failed = 0
    try:
        while True:
            run = api.get(path)
            ops = _remote_op_runs(run, name, trial)
            prefixed = name is None or (trial is None and any(each["trial"] is not None for each in ops))
            selected = [each for each in run["op_runs"] if each["name"] == name]
            if not follow or run["status"] in RUN_FINAL:
                ended = True
            elif name is not None and attempt is not None:
                ended = attempt < ops[0]["attempt"]  # an earlier attempt does not change
            else:
                ended = name is not None and all(each["status"] in OP_FINAL for each in [*ops, *selected])
            width = max([len(each["label"]) for each in ops] + [1])
            for each in ops:
                prefix = f"{each['label'].ljust(width)} | " if prefixed else ""
                number = attempt or each["attempt"]
                key = (each["label"], number)
                if attempt is None and not each["handle"]:
                    if each["status"] == OpStatus.FAILED and key not in failures_said:
                        failures_said.add(key)
                        failed += 1
                        why = " ".join((each["message"] or each["reason"] or "failed").split())
                        what = prefix if prefixed else f"op {each['label']!r} "
                        click.echo(f"{what}failed before it ran (attempt {number}): {why}", err=True)
                    continue
                where = f"{path}ops/{each['name']}/" + (f"trials/{each['trial']}/" if each["trial"] is not None
                                                        else "")
                lines = api.get(where + "logs/", attempt=attempt)["lines"]
                if key not in printed:
                    if any(k[0] == each["label"] for k in printed):
                        click.echo(f"{prefix}--- attempt {number} ---")
                    # --tail: the last lines of the first read; what comes after, all of it.
                    printed[key] = max(len(lines) - tail, 0) if tail else 0
                for line in lines[printed[key]:]:
                    click.echo(prefix + line)
                    shown += 1
                printed[key] = max(printed[key], len(lines))
            if ended:
                break
            time.sleep(FOLLOW_PAUSE)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    if shown == 0 and failed == 0 and not any(each["handle"] for each in ops):
        if name is not None and len(ops) == 1:
            click.echo(f"no logs yet: op {ops[0]['label']!r} of run {run['uuid']} is {ops[0]['status']} and was "
                       "never submitted", err=True)
        elif name is not None:
            click.echo(f"no logs yet: no trial of op {name!r} of run {run['uuid']} was submitted", err=True)
        else:
            click.echo(f"no logs yet: no op of run {run['uuid']} was submitted", err=True)
    return 1 if shown == 0 and failed else 0


def _remote_op_runs(run: dict, name: str | None, trial: int | None) -> list[dict]:
    """The op runs of the API's run whose logs are read, each with its `label`: OP, or its trials
    for a matrix op (a group runs nothing itself), or trial `trial` of OP, or all of them."""
    found = []
    for each in run["op_runs"]:
        if name is not None and each["name"] != name:
            continue
        for item in each["trials"] or [each]:
            if trial is None or item["trial"] == trial:
                label = item["name"] if item["trial"] is None else f"{item['name']}[{item['trial']}]"
                found.append({**item, "label": label})
    return found


def _is_group(op_run) -> bool:
    return op_run.trial is None and op_run.run.op_runs.filter(name=op_run.name, trial__isnull=False).exists()


def _name_and_trial(op: str) -> tuple[str, int | None]:
    """`tune[3]` is trial 3 of op tune (the label of op runs everywhere); `tune` the op."""
    trial = re.fullmatch(r"(.+)\[(\d+)\]", op)
    return (trial.group(1), int(trial.group(2))) if trial else (op, None)


class _Reader:
    """The op runs whose logs are printed (OP; a matrix op's trials; every op), read once or followed."""

    def __init__(self, run, selected, attempt: int | None, tail: int | None, prefixed: bool):
        self.run = run
        self.selected = selected
        self.attempt = attempt
        self.tail = tail
        self.prefixed = prefixed
        self.printed: dict[tuple[int, int], int] = {}  # (op run, attempt) -> lines printed
        self.failures_said: set[tuple[int, int]] = set()
        self.shown = 0  # log lines printed
        self.failed_before_running = 0
        self.backends: dict = {}
        self.interrupted = 0

    # -- which op runs ------------------------------------------------------------------
    def op_runs(self) -> list:
        from polyflow.selectors.lookup import op_runs_in_order

        selected = self.selected
        if selected is not None and selected.trial is not None:
            return [self.fresh(selected)]
        rows = op_runs_in_order(self.run)
        for row in rows:
            row.run = self.run
        if selected is not None:
            rows = [row for row in rows if row.name == selected.name]
        groups = {row.name for row in rows if row.trial is not None}
        # A group runs nothing itself: its trials do.
        return [row for row in rows if not (row.trial is None and row.name in groups)]

    def fresh(self, op_run):
        """The op run as it is now (a retry changes its attempt, a mark its status)."""
        found = type(op_run).objects.select_related("run").filter(pk=op_run.pk).first()
        if found is None:
            raise click.ClickException(f"run {self.run.uuid} was deleted (its pipeline with it)")
        return found

    # -- one pass -----------------------------------------------------------------------
    def once(self) -> int:
        op_runs = self.op_runs()
        width = self.width(op_runs)
        for op_run in op_runs:
            self.read(op_run, final=True, width=width)
        if self.shown == 0 and self.failed_before_running == 0:
            self.say_nothing(op_runs)
        return 1 if self.shown == 0 and self.failed_before_running else 0

    def say_nothing(self, op_runs) -> None:
        run = self.run
        if self.selected is not None and len(op_runs) == 1 and not op_runs[0].handle:
            op_run = op_runs[0]
            click.echo(f"no logs yet: op {op_run.label!r} of run {run.uuid} is {op_run.status} and was never "
                       "submitted", err=True)
        elif self.selected is not None and not any(op_run.handle for op_run in op_runs):
            click.echo(f"no logs yet: no trial of op {self.selected.name!r} of run {run.uuid} was submitted",
                       err=True)
        elif not any(op_run.handle for op_run in op_runs):
            click.echo(f"no logs yet: no op of run {run.uuid} was submitted", err=True)

    def width(self, op_runs) -> int:
        return max([len(op_run.label) for op_run in op_runs] + [1])

    def read(self, op_run, final: bool, width: int | None = None) -> None:
        """Print the lines of the op run's attempt not printed yet; its failure before running, once."""
        from polyflow.selectors.logs import LogsUnavailable, attempt_handle, op_run_logs

        attempt = self.attempt or op_run.attempt
        key = (op_run.pk, attempt)
        handle = attempt_handle(op_run, attempt)
        prefix = f"{op_run.label.ljust(width or len(op_run.label))} | " if self.prefixed else ""
        if not handle:
            if op_run.status == OpStatus.FAILED and attempt == op_run.attempt and key not in self.failures_said:
                self.failures_said.add(key)
                self.failed_before_running += 1
                why = " ".join((op_run.message or op_run.reason or "failed").split())
                what = prefix if self.prefixed else f"op {op_run.label!r} "
                click.echo(f"{what}failed before it ran (attempt {attempt}): {why}", err=True)
            return
        try:
            lines = op_run_logs(op_run, attempt, None if key in self.printed or not self.tail else self.tail,
                                 backends=self.backends)
        except LogsUnavailable as error:
            raise click.ClickException(f"cannot read the logs: {error}") from None
        except Exception as error:  # noqa: BLE001 - a backend's read (the cluster's API) never shows a traceback
            if final:
                raise click.ClickException(f"cannot read the logs of {op_run.label}: {error}") from None
            return  # tried again at the next read
        start = self.printed.get(key, 0)
        if key not in self.printed and any(k[0] == op_run.pk for k in self.printed):
            click.echo(f"{prefix}--- attempt {attempt} ---")
        for line in lines[start:]:
            click.echo(prefix + line)
            self.shown += 1
        self.printed[key] = max(start, len(lines))

    # -- following ----------------------------------------------------------------------
    def follow(self) -> int:
        from polyflow.models import PipelineRun
        from polyflow.statuses import OP_FINAL, RUN_FINAL

        previous = {signum: signal.signal(signum, self.on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.interrupted:
                status = PipelineRun.objects.filter(pk=self.run.pk).values_list("status", flat=True).first()
                if status is None:
                    raise click.ClickException(f"run {self.run.uuid} was deleted (its pipeline with it)")
                op_runs = self.op_runs()
                width = self.width(op_runs)
                if self.selected is None:
                    ended = status in RUN_FINAL
                elif self.attempt is not None and self.attempt < (op_runs[0].attempt if op_runs else 0):
                    ended = True  # an earlier attempt does not change
                else:
                    ended = status in RUN_FINAL or (self.fresh(self.selected).status in OP_FINAL
                                                    and all(o.status in OP_FINAL for o in op_runs))
                for op_run in op_runs:
                    self.read(op_run, final=False, width=width)
                if ended:
                    break
                deadline = time.monotonic() + FOLLOW_PAUSE
                while not self.interrupted and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self.interrupted:
            return 128 + self.interrupted
        if self.shown == 0 and self.failed_before_running == 0:
            self.say_nothing(self.op_runs())
        return 1 if self.shown == 0 and self.failed_before_running else 0

    def on_signal(self, signum, frame) -> None:
        if self.interrupted:
            raise SystemExit(128 + signum)
        self.interrupted = signum
