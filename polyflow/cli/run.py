"""`polyflow run FILE...`: apply, trigger one run now, and drive the scheduler here until it ends."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time

import click

from polyflow.cli.apply import DEFAULT_PROJECT, _owner_and_project, apply_files, owner_named
from polyflow.cli.django_setup import database_errors, input_refused, setup_database, start_up

# polyflow.conf.BACKEND_CHOICES (importing it here would load Django's settings
# machinery for every command; tests check the two agree).
BACKEND_CHOICES = ("local", "kubernetes", "airflow")
# Between two ticks the loop waits for the backend to report a change
# (`Backend.watch`: the local runners signal each start and end), so a chain
# advances as soon as an op ends; it ticks at least this often anyway (retry
# delays, a signal lost).
SAFETY_TICK = 1.0
# The pace for a backend that reports no changes (it keeps the default watch):
# how soon a finished op is noticed by polling.
POLL_PAUSE = 0.1
# How often a wait looks at the signal flags: how soon Ctrl-C is acted on.
SIGNAL_CHECK = 0.1
# How often `polyflow runs watch` (which only looks) reads the run again.
WATCH_PAUSE = 0.5


@functools.cache
def _scalar_loader():
    """YAML's scalars, except timestamps: dates stay the ISO strings the spec expects.

    Made on first use: `polyflow --help` lists this command without loading YAML."""
    import yaml

    class ScalarLoader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    return ScalarLoader


def param_value(raw: str) -> object:
    """`0.1` a float, `3` an int, `true` a bool, `[1, 2]` a list, anything else the string itself."""
    import yaml

    if raw == "":
        return ""
    try:
        return yaml.load(raw, Loader=_scalar_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return raw


def _parse_params(ctx, param, values: tuple[str, ...]) -> dict[str, dict[str, object]]:
    from polyflow.spec.storable import unstorable_value

    params: dict[str, dict[str, object]] = {}
    for item in values:
        key, equals, raw = item.partition("=")
        op, dot, name = key.partition(".")
        if not equals or not dot or not op or not name:
            raise click.BadParameter(f"{item!r}: expected OP.NAME=VALUE, e.g. train.lr=0.1")
        value = param_value(raw)
        problem = unstorable_value(value)
        if problem:
            raise click.BadParameter(f"{item!r}: {problem[1]}")
        params.setdefault(op, {})[name] = value
    return params


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--project", default=DEFAULT_PROJECT, show_default=True, callback=_owner_and_project,
              metavar="OWNER/PROJECT", help="The project to apply the files to.")
@click.option("--pipeline", "pipeline_name", metavar="NAME",
              help="The pipeline to run, when the files hold several.")
@click.option("--param", "params", multiple=True, callback=_parse_params, metavar="OP.NAME=VALUE",
              help="Override a param of an op for this run; the value is read as YAML (0.1 is a number, "
                   "true a boolean, anything else text). Repeat for more.")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES),
              help="What runs the ops: local processes or Kubernetes pods (default: POLYFLOW_BACKEND, local).")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Run every op, even those with `cache: true` whose results could be reused.")
@click.option("--log-lines", default=10, show_default=True, type=click.IntRange(min=0, max=10_000), metavar="N",
              help="How many log lines of each failed op the summary shows.")
def run(files, project, pipeline_name, params, backend, log_lines, no_cache) -> None:
    """Apply FILES, run their pipeline once now, and show it until it ends.

    The documents are applied as `polyflow apply` does (pipelines created or
    updated, actions and events stored), then one run of the pipeline is
    triggered at once: a schedule is not waited for (and stays in place for
    any scheduler). When the files hold several pipelines, --pipeline names
    the one to run. This command then runs the scheduler itself, in this
    process, until the run ends: no broker and no other process is needed.
    (Its ticks are the scheduler's: other active runs of the database advance
    too, but this command waits only for its own.)

    Project: `local/default` unless --project is given. The owner `local` is
    created when it does not exist yet; any other owner must exist
    (`polyflow manage createsuperuser`). The project is created when missing.

    Database: SQLite in $POLYFLOW_HOME (~/.polyflow), set up on first use;
    PostgreSQL when DATABASE_URL is set.

    On a terminal a table of the ops is redrawn in place; otherwise one line is
    printed per status change. A summary follows: each op's status, duration
    and outputs, where the logs are, and the last log lines of failed ops.

    Ctrl-C stops the run (its processes or pods are ended, the run is recorded
    as stopped); a second Ctrl-C exits at once, leaving the run stopping.

    Exit status: 0 when the run succeeded, 1 when it failed or nothing could be
    run (invalid documents or params), 2 on usage errors, 130 after Ctrl-C
    (SIGTERM stops the run too, and exits 143).
    """
    owner_name, project_name = project
    if backend:
        # Read by the standalone settings, and by anything this process starts.
        os.environ["POLYFLOW_BACKEND"] = backend
    with start_up():
        setup_database()
        backend_object = _backend(backend)
        with database_errors():
            lines, pipeline, triggered = _apply_and_trigger(files, owner_name, project_name, pipeline_name, params,
                                                               no_cache)
        for line in lines:
            click.echo(line)
        _note_schedule(pipeline)

        from polyflow.cli.progress import Watcher

        stream = click.get_text_stream("stdout")
        watcher = Watcher(triggered, backend_object, stream, live=stream.isatty(), log_lines=log_lines)
    code = _Driver(triggered, backend_object, watcher).drive()
    sys.exit(code)


def _backend(name: str | None):
    from polyflow.backends import get_backend
    from polyflow.conf import polyflow_settings

    name = name or polyflow_settings.BACKEND
    from polyflow.extras import MissingExtra

    try:
        backend = get_backend(name)
    except MissingExtra as error:  # already says which backend and what to install
        raise click.ClickException(str(error)) from None
    except Exception as error:  # noqa: BLE001 - not configured (no cluster credentials...)
        raise click.ClickException(f"the {name} backend is not available: {error}") from None
    backend.prepare()  # the local backend's runner server starts while the files are applied
    return backend


def _apply_and_trigger(files, owner_name: str, project_name: str, pipeline_name: str | None, params: dict,
                       no_cache: bool = False):
    """Apply and trigger in one transaction: an unknown pipeline or a bad param applies nothing."""
    from django.db import transaction

    from polyflow.exceptions import PolyflowError
    from polyflow.services.runs import trigger_run

    with transaction.atomic():
        owner = owner_named(owner_name)
        lines, result = apply_files(files, owner, project_name)
        pipeline = _choose(result.pipelines, pipeline_name, files)
        try:
            with input_refused("nothing was applied or run."):
                triggered = trigger_run(pipeline, params=params, no_cache=no_cache)
        except PolyflowError as error:
            raise click.ClickException(error.message) from None
    project = pipeline.project
    count = len(triggered.plan["ops"])  # one op run each (a matrix op's trials come later)
    lines.append(f"run {triggered.uuid} of {project.owner.get_username()}/{project.name}/{pipeline.name}: "
                 f"triggered ({count} op{'s' if count != 1 else ''})")
    return lines, pipeline, triggered


def _choose(applied, name: str | None, files):
    pipelines = [pipeline for pipeline, _ in applied]
    names = [pipeline.name for pipeline in pipelines]
    if name is not None:
        for pipeline in pipelines:
            if pipeline.name == name:
                return pipeline
        raise click.ClickException(f"--pipeline {name}: no such pipeline in {', '.join(files)} "
                                   f"(pipelines: {', '.join(names) or 'none'}); nothing was applied")
    if not pipelines:
        raise click.ClickException(f"no pipeline in {', '.join(files)}: nothing to run; nothing was applied")
    if len(pipelines) > 1:
        raise click.ClickException(f"the files hold {len(pipelines)} pipelines ({', '.join(names)}): "
                                   "choose one with --pipeline NAME; nothing was applied")
    return pipelines[0]


def _note_schedule(pipeline) -> None:
    schedule = (pipeline.plan or {}).get("schedule")
    if schedule:
        click.echo(f"note: pipeline {pipeline.name} has a {schedule.get('kind')} schedule: from now on any "
                   "scheduler on this database (`polyflow server`, Celery beat, `polyflow tick`) makes its "
                   "runs; this command runs it once, now")


def watch_run(run_ref: str | None, *, drive: bool, log_lines: int, run=None, project=None) -> None:
    """`polyflow runs watch` and `polyflow trigger --watch`: the live table and summary of
    `polyflow run` for the run RUN names (or `run`), until it ends; exits with run's status.
    Looks only, unless `drive`: then it ticks as `run` does. Ctrl-C leaves the run as it is."""
    from polyflow.cli.django_setup import command_errors
    from polyflow.cli.refs import resolve

    with start_up():
        setup_database()
        with command_errors():
            if run is None:
                run = resolve(run_ref, project)
        backend_object = _backend(None) if drive else _backend_for_logs()

        from polyflow.cli.progress import Watcher

        stream = click.get_text_stream("stdout")
        watcher = Watcher(run, backend_object, stream, live=stream.isatty(), log_lines=log_lines,
                          ctrl_c="Ctrl-C exits, the run goes on")
    sys.exit(_Driver(run, backend_object, watcher, ticks=drive, stops=False).drive())


class _NoBackend:
    """Where logs cannot be read from (the configured backend is not available here)."""

    name = ""

    def __init__(self, why: str):
        self.why = why

    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        raise RuntimeError(self.why)


def _backend_for_logs():
    """The configured backend, to read logs from, without preparing it to run anything."""
    from polyflow.backends import get_backend
    from polyflow.conf import polyflow_settings

    try:
        return get_backend(polyflow_settings.BACKEND)
    except Exception as error:  # noqa: BLE001 - the run is still shown, without its logs
        return _NoBackend(f"the {polyflow_settings.BACKEND} backend is not available: {error}")


class _Driver:
    """Ticks until the run ends; Ctrl-C stops the run, a second one exits at once.

    `ticks` false: only watches (someone else's scheduler advances the run);
    `stops` false: Ctrl-C exits and leaves the run as it is.
    """

    def __init__(self, run, backend, watcher, *, ticks: bool = True, stops: bool = True):
        self.run = run
        self.backend = backend
        self.watcher = watcher
        self.ticks = ticks
        self.stops = stops
        self.interrupted = 0  # the signal that asked to stop
        self.stop_sent = False
        self.errors_seen: set[str] = set()

    def on_signal(self, signum, frame) -> None:
        if self.interrupted and self.stops:
            self.watcher.abandon(self.run)
            os._exit(128 + self.interrupted)
        self.interrupted = signum

    def drive(self) -> int:
        from django.db import DatabaseError

        from polyflow.statuses import RUN_FINAL, RunStatus

        # SIGTERM (a CI job's timeout, `kill`) stops the run like Ctrl-C.
        previous = {signum: signal.signal(signum, self.on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        # Warnings of the scheduler and the backends: shown once each, above the table.
        polyflow_logger = logging.getLogger("polyflow")
        handler = _WarningsOnce(self._warn)
        polyflow_logger.addHandler(handler)
        propagate, polyflow_logger.propagate = polyflow_logger.propagate, False
        run = self.run
        try:
            if self.ticks:
                self._listen()
            changed: list[str] = []
            last_tick = 0.0
            while True:
                if self.interrupted and not self.stops:
                    break
                if self.interrupted and not self.stop_sent:
                    self._stop()
                if self.ticks and changed and time.monotonic() - last_tick < SAFETY_TICK:
                    self._advance(changed)  # the hand-off: only the runs of what changed
                elif self.ticks:
                    last_tick = time.monotonic()
                    self._tick()
                refreshed = self._refresh()
                if refreshed is not None:
                    run = refreshed
                    try:
                        self.watcher.update(run, stopping=self.stop_sent)
                    except DatabaseError as error:
                        self._warn(f"cannot read the run: {str(error).strip()} (trying again)")
                    if run.status in RUN_FINAL:
                        break
                changed = self._wait() if self.ticks else self._pause()
        finally:
            close = getattr(self.backend, "close", None)  # the local backend's listening socket
            if close is not None:
                close()
            for signum, signal_handler in previous.items():
                signal.signal(signum, signal_handler)
            polyflow_logger.removeHandler(handler)
            polyflow_logger.propagate = propagate
        with database_errors():
            self.watcher.finish(run)
        if self.interrupted:
            return 128 + self.interrupted  # 130 after Ctrl-C, as a shell reports it
        return 0 if run.status == RunStatus.SUCCEEDED else 1

    def _pause(self) -> list[str]:
        """Watching only: WATCH_PAUSE, or until a signal arrives."""
        deadline = time.monotonic() + WATCH_PAUSE
        while not self.interrupted and time.monotonic() < deadline:
            time.sleep(min(SIGNAL_CHECK, max(deadline - time.monotonic(), 0)))
        return []

    def _listen(self) -> None:
        """Start listening before the first tick: an op that ends during it is not missed."""
        try:
            self.backend.watch(0)
        except Exception as error:  # noqa: BLE001 - the safety tick still comes
            self._warn(f"waiting for the backend failed: {error}")

    def _wait(self) -> list[str]:
        """Until the backend reports a change, a signal arrives or SAFETY_TICK has passed;
        the handles of the attempts that changed ([] when none did)."""
        from polyflow.backends.base import Backend

        reports = type(self.backend).watch is not Backend.watch
        deadline = time.monotonic() + (SAFETY_TICK if reports else POLL_PAUSE)
        while not self.interrupted or self.stop_sent:
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            try:
                changed = self.backend.watch(min(left, SIGNAL_CHECK))
                if changed:
                    return changed
            except Exception as error:  # noqa: BLE001 - a backend's wait never ends the command
                self._warn(f"waiting for the backend failed: {error}")
                time.sleep(min(left, SIGNAL_CHECK))
        return []

    def _stop(self) -> None:
        from polyflow.exceptions import Conflict
        from polyflow.services.runs import stop_run

        self.stop_sent = True
        what = "Ctrl-C" if self.interrupted == signal.SIGINT else signal.Signals(self.interrupted).name
        self.watcher.note(f"{what}: stopping the run (Ctrl-C again to exit at once)")
        try:
            with database_errors():
                stop_run(self.run, message=f"stopped with {what}")
        except Conflict:
            pass  # it ended in the meantime
        except click.ClickException as error:
            self._warn(error.message)

    def _tick(self) -> None:
        from django.db import DatabaseError, close_old_connections

        from polyflow.scheduler.tick import tick

        try:
            report = tick(backend=self.backend)
        except DatabaseError as error:
            # A locked or briefly unreachable database: said once, tried again.
            self._warn(f"tick failed: {str(error).strip()} (trying again)")
            close_old_connections()
            return
        for message in report.errors:
            self._warn(message)

    def _advance(self, handles: list[str]) -> None:
        """Advance the runs of the attempts that changed (ours, and any other on this database)."""
        from django.db import DatabaseError, close_old_connections

        from polyflow.scheduler.tick import advance

        try:
            report = advance(backend=self.backend, start=False, handles=handles)
        except DatabaseError as error:
            self._warn(f"tick failed: {str(error).strip()} (trying again)")
            close_old_connections()
            return
        for message in report.errors:
            self._warn(message)

    def _refresh(self):
        from django.db import DatabaseError

        from polyflow.models import PipelineRun

        try:
            return PipelineRun.objects.select_related("pipeline__project__owner").get(pk=self.run.pk)
        except PipelineRun.DoesNotExist:
            raise click.ClickException(f"run {self.run.uuid} was deleted (its pipeline with it)") from None
        except DatabaseError as error:
            self._warn(f"cannot read the run: {str(error).strip()} (trying again)")
            return None

    def _warn(self, message: str) -> None:
        if message not in self.errors_seen:
            self.errors_seen.add(message)
            self.watcher.note(f"warning: {message}")


class _WarningsOnce(logging.Handler):
    def __init__(self, warn):
        super().__init__(logging.WARNING)
        self.warn = warn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.warn(record.getMessage())
        except Exception:  # noqa: BLE001 - logging never ends the command
            self.handleError(record)
