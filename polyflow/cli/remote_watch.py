"""`polyflow runs watch` and `polyflow trigger --watch` against a server: the live table, the lines
and the summary of the database mode (polyflow.cli.progress.Watcher), read from the API by polling.

The watcher's reads are the only difference: the run and its op runs from the run's endpoint, the
status changes from `statuses/` and `op-statuses/?after=`, the log lines from `logs/`. Nothing
here loads Django.
"""

from __future__ import annotations

import signal
import sys
import time
from types import SimpleNamespace

import click

from polyflow.cli import remote
from polyflow.cli.progress import Logs, Watcher, clean
from polyflow.statuses import RUN_FINAL, RunStatus

POLL_PAUSE = 0.5  # seconds between two reads of the run, as `runs watch` on a database
SIGNAL_CHECK = 0.1


class RemoteLogs(Logs):
    """Op runs' log lines from the API; the server's files are not on this machine (no path)."""

    def __init__(self, api: remote.Client, run_path: str):
        super().__init__(backend=None)
        self.api = api
        self.run_path = run_path

    def path(self, op_run):
        return None

    def tail(self, op_run, lines: int) -> list[str]:
        if not op_run.handle or lines <= 0:
            return []
        where = f"{self.run_path}ops/{op_run.name}/" + (f"trials/{op_run.trial}/" if op_run.trial is not None else "")
        try:
            return self.api.get(where + "logs/", tail=lines)["lines"]
        except click.ClickException as error:  # a log read never ends the command
            return [f"(cannot read the logs: {error.message})"]

    def _read_last_line(self, op_run) -> str:
        for line in reversed(self.tail(op_run, 3)):
            text = clean(line)
            if text and not text.startswith("polyflow: local backend:"):
                return text
        return ""


class RemoteWatcher(Watcher):
    """The Watcher, reading the run that `snapshot` made from the API's JSON."""

    def __init__(self, api: remote.Client, run, plan: dict, stream, live: bool, log_lines: int, ctrl_c: str):
        super().__init__(run, None, stream, live, log_lines=log_lines, ctrl_c=ctrl_c)
        self.api = api
        self.path = remote.run_api_path({"owner": run.pipeline.project.owner.username,
                                         "project": run.pipeline.project.name, "uuid": str(run.uuid)})
        self.logs = RemoteLogs(api, self.path)
        self.plan = plan

    def snapshot(self, data: dict):
        """The run of the API's JSON, with its op runs (trials after their group) for the reads below."""
        run = remote.run_object(data)
        run.plan = self.plan
        op_runs = []
        for position, op in enumerate(data.get("op_runs", [])):
            group = remote.op_run_object(op)
            group.pk = (position, -1)
            op_runs.append(group)
            for trial in op.get("trials") or []:
                each = remote.op_run_object(trial)
                each.pk = (position, each.trial)
                op_runs.append(each)
        run.op_run_list = op_runs
        return run

    def op_runs_of(self, run) -> list:
        return run.op_run_list

    def run_records(self, run, after: int):
        records = self.api.all_pages(self.path + "statuses/")
        return [_record(item) for item in records if item["id"] > after]

    def op_records(self, run, after: int):
        ops = {op.name: op for op in run.op_run_list if op.trial is None}
        records = []
        for item in self.api.all_pages(self.path + "op-statuses/", after=after):
            record = _record(item)
            if item["trial"] is None and item["op"] in ops:
                record.op_run = ops[item["op"]]  # a group's summary, for the line of its end
            else:
                label = item["op"] if item["trial"] is None else f"{item['op']}[{item['trial']}]"
                record.op_run = SimpleNamespace(name=item["op"], trial=item["trial"], label=label, summary={})
            records.append(record)
        return records

    def trials_of(self, run, names: list[str]) -> list:
        return [op for op in run.op_run_list if op.trial is not None and op.name in names]


def _record(item: dict) -> SimpleNamespace:
    return SimpleNamespace(pk=item["id"], status=item["status"], previous=item["previous"],
                           message=item["message"], attempt=item.get("attempt"),
                           created_at=remote._time(item["created_at"]))


def watch(api: remote.Client, found: dict, log_lines: int) -> None:
    """Show the run of the API's JSON `found` until it ends; exit with its status (0 when it
    succeeded, 1 otherwise, 130 after Ctrl-C, which leaves the run as it is)."""
    path = remote.run_api_path(found)
    pipeline = api.get(f"{found['owner']}/{found['project']}/pipelines/{found['pipeline']}/")
    stream = click.get_text_stream("stdout")
    data = api.get(path)
    watcher = RemoteWatcher(api, remote.run_object(data), pipeline.get("plan") or {}, stream,
                            live=stream.isatty(), log_lines=log_lines, ctrl_c="Ctrl-C exits, the run goes on")
    interrupted = []

    def on_signal(signum, frame):
        interrupted.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    warned: set[str] = set()
    try:
        run = watcher.snapshot(data)
        while True:
            watcher.update(run)
            if run.status in RUN_FINAL or interrupted:
                break
            deadline = time.monotonic() + POLL_PAUSE
            while not interrupted and time.monotonic() < deadline:
                time.sleep(SIGNAL_CHECK)
            if interrupted:
                break
            try:
                run = watcher.snapshot(api.get(path))
            except click.ClickException as error:
                if not error.message.startswith("cannot reach"):
                    raise
                if error.message not in warned:  # a server restarting: said once, tried again
                    warned.add(error.message)
                    watcher.note(f"warning: {error.message} (trying again)")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    watcher.finish(run)
    if interrupted:
        sys.exit(128 + interrupted[0])
    sys.exit(0 if run.status == RunStatus.SUCCEEDED else 1)

