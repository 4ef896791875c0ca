"""`polyflow server`: the API served by waitress, with the scheduler ticking in the same process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import click

from polyflow.cli.django_setup import database_errors, is_standalone, setup_django

logger = logging.getLogger("polyflow.server")
# How often the scheduler thread looks for active runs: a run triggered over
# the API starts within this. Ops that start or end wake it at once
# (`Backend.watch`), so chains do not advance at this pace.
WAKE_INTERVAL = 0.5
SHUTDOWN_WAIT = 30  # seconds to let a tick in progress finish


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface; set POLYFLOW_ALLOWED_HOSTS too).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="The port to listen on; 0 picks a free one.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads serving requests.")
@click.option("--no-scheduler", is_flag=True,
              help="Serve only; leave ticking to Celery beat and workers (or `polyflow tick`).")
def server(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Serve the API and run the scheduler, in one process.

    With the standalone project the database is migrated first (SQLite in
    $POLYFLOW_HOME, or DATABASE_URL). The API (/api/v1/, docs at
    /api/v1/docs/), the dashboard (/ui/), the admin (/admin/) and /healthz
    (under a host project's prefix: the banner says where) are served by
    waitress, a production WSGI server, with --threads threads. Unless --no-scheduler
    is given, a thread of the same process runs the scheduler: a tick every
    POLYFLOW_TICK_INTERVAL seconds for schedules, every 0.5 s while runs are
    active, so that a triggered run starts at once, and as soon as an op
    starts or ends (the local backend's runners signal it), so that a chain
    advances without waiting. No broker is needed.

    This suits one machine and a team trying Polyflow out. In production, run
    the web processes with --no-scheduler (or any WSGI server) and Celery
    workers and beat on a broker for the ticks (see the README).

    SIGTERM or Ctrl-C stops both: requests in progress and the tick in
    progress finish first.
    """
    standalone = is_standalone()
    setup_django()
    _system_checks()
    _configure_logging()
    with database_errors():
        applied = _migrate(standalone)

    from django.core.servers.basehttp import get_internal_wsgi_application
    from waitress import create_server

    application = get_internal_wsgi_application()
    from polyflow.conf import polyflow_settings

    if polyflow_settings.ACCESS_LOG:
        from polyflow.telemetry.access import AccessLog

        application = AccessLog(application)  # one line per request, once its response is sent
    from polyflow.telemetry import instruments

    instruments.enable()  # this process serves /metrics: its scheduler thread's figures are recorded
    try:
        wsgi_server = create_server(application, host=host, port=port, threads=threads,
                                    ident="polyflow", clear_untrusted_proxy_headers=True)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None

    listen_host, listen_port = _listening(wsgi_server)
    loop = None if no_scheduler else SchedulerLoop()
    for line in _banner(listen_host, listen_port, threads, applied, loop):
        click.echo(line)

    def terminate(signum, frame):
        raise SystemExit(0)  # waitress's loop ends on it, as on KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    if loop is not None:
        loop.start()
    try:
        wsgi_server.run()  # returns after SIGTERM or Ctrl-C, with its request threads done
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        _shutdown(wsgi_server, loop)


def _system_checks() -> None:
    """Django's system checks, as `runserver` runs them: a host project that misses what
    Polyflow needs (polyflow/checks.py) is refused before it serves wrong answers."""
    from django.core.management.base import BaseCommand, SystemCheckError

    try:
        BaseCommand().check(display_num_errors=False)
    except SystemCheckError as error:
        raise click.ClickException(str(error).strip().removeprefix("SystemCheckError: ")) from None


def _configure_logging() -> None:
    """Polyflow's lines at INFO on stderr, as text or JSON (POLYFLOW["LOG_FORMAT"]), with their context."""
    from polyflow.conf import polyflow_settings
    from polyflow.telemetry.logs import configure

    configure(polyflow_settings.LOG_FORMAT)


def _migrate(standalone: bool) -> int:
    """The standalone project's database is brought up to date; a host project's is only checked."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from polyflow.cli.django_setup import _ensure_database

    if not standalone:
        _ensure_database(False)
        return 0
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    if pending:
        call_command("migrate", verbosity=0, interactive=False)
    return pending


def _listening(wsgi_server) -> tuple[str, int]:
    if hasattr(wsgi_server, "effective_listen"):  # several sockets (a name that resolves to several)
        return wsgi_server.effective_listen[0][:2]
    return wsgi_server.effective_host, wsgi_server.effective_port


def _database() -> str:
    from django.conf import settings

    database = settings.DATABASES["default"]
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"SQLite at {database['NAME']}"
    where = f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 'default port'}"
    return f"{engine} database {database.get('NAME')!r} on {where}"


def _banner(host: str, port: int, threads: int, applied: int, loop) -> list[str]:
    from django.conf import settings

    from polyflow import __version__
    from polyflow.conf import polyflow_settings

    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    paths = _paths()
    lines = [f"Polyflow {__version__} serving {url}/ with waitress ({threads} threads)"]
    if "api" in paths:
        lines += [f"  API:       {url}{paths['api']}  (docs: {url}{paths['docs']})",
                  f"  dashboard: {url}{paths['dashboard']}",
                  f"  health:    {url}{paths['health']}  (ready: {url}{paths['ready']}; "
                  f"metrics: {url}{paths['metrics']})"]
    else:
        lines.append(f"  API:       not served: {settings.ROOT_URLCONF} does not include polyflow.urls")
    if "admin" in paths:
        lines.append(f"  admin:     {url}{paths['admin']}")
    lines.append(f"  database:  {_database()}" + (f" ({applied} migrations applied now)" if applied else ""))
    if loop is None:
        lines.append("  scheduler: off (--no-scheduler): Celery beat and workers, or `polyflow tick`, run the ticks")
    else:
        lines.append(f"  scheduler: in this process, a tick every {polyflow_settings.TICK_INTERVAL} s, every "
                     f"{WAKE_INTERVAL} s while runs are active and when ops end; backend {polyflow_settings.BACKEND}")
    if host in ("0.0.0.0", "::", ""):
        lines.append(f"  note: requests must name one of ALLOWED_HOSTS ({', '.join(settings.ALLOWED_HOSTS)}); "
                     "with the standalone project set POLYFLOW_ALLOWED_HOSTS")
    lines += [
        "A user and an API token (in another shell, with the same POLYFLOW_HOME or DATABASE_URL):",
        f"  {_manage()} createsuperuser --username alice --email alice@example.com",
        f"  {_manage()} drf_create_token alice",
        *([f"  curl -H 'Authorization: Token <the token>' {url}{paths['alice']}"] if "alice" in paths else []),
        "Ctrl-C stops the server.",
    ]
    return lines


def _manage() -> str:
    """The management command line of this project: a host project's settings are named."""
    if is_standalone():
        return "polyflow manage"
    return f"polyflow --settings {os.environ['DJANGO_SETTINGS_MODULE']} manage"


def _paths() -> dict[str, str]:
    """Where the URLconf serves Polyflow, as reverse() gives it: a host project mounts
    polyflow.urls under a prefix of its own (and may have no admin)."""
    from django.urls import NoReverseMatch, reverse

    paths = {}
    try:
        docs = reverse("polyflow:api-docs")
        paths.update(api=docs.removesuffix("docs/"), docs=docs, dashboard=reverse("polyflow:ui:projects"),
                     health=reverse("polyflow:healthz"), ready=reverse("polyflow:readyz"),
                     metrics=reverse("polyflow:metrics"),
                     alice=reverse("polyflow:api-projects", kwargs={"owner": "alice"}))
    except NoReverseMatch:
        pass
    try:
        paths["admin"] = reverse("admin:index")
    except NoReverseMatch:
        pass
    return paths


def _shutdown(wsgi_server, loop) -> None:
    try:
        wsgi_server.close()
    except Exception:  # noqa: BLE001 - closing what is already closed
        pass
    if loop is None:
        return
    click.echo("stopping the scheduler (the tick in progress finishes)", err=True)
    loop.stop()
    try:
        loop.join(SHUTDOWN_WAIT)
    except KeyboardInterrupt:
        sys.exit(130)


class SchedulerLoop(threading.Thread):
    """Ticks as soon as the backend reports that attempts started or ended, every
    WAKE_INTERVAL while any run is active, and every TICK_INTERVAL seconds anyway.

    The wait between ticks is `Backend.watch`, so an op that ends is followed at
    once by a tick that starts what comes next. A tick that fails is logged and
    the loop goes on with a fresh connection.
    """

    def __init__(self, wake: float = WAKE_INTERVAL, backend=None):
        super().__init__(name="polyflow-scheduler", daemon=True)
        self.wake = wake
        self.backend = backend
        self._stopping = threading.Event()
        self._watch_failed = False

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        from django.db import connections

        from polyflow.backends import get_backend
        from polyflow.conf import polyflow_settings

        # One backend object for the loop's life: its watch is stateful (the local one keeps a socket).
        backend = self.backend
        if backend is None:
            try:
                backend = get_backend()
            except Exception:  # not configured: each tick tries again, and says why
                logger.exception("the backend is not available; the scheduler polls")
        last_tick = float("-inf")
        next_look = 0.0  # when to look for active runs again
        changed: list[str] = []
        try:
            self._watch(backend, 0)  # listening from now on: nothing ending during the first tick is missed
            while not self._stopping.is_set():
                now = time.monotonic()
                look = now >= next_look
                if look:
                    next_look = now + self.wake
                try:
                    if now - last_tick >= polyflow_settings.TICK_INTERVAL or (look and self._active()):
                        last_tick = now
                        self._tick(backend)
                    elif changed:
                        self._advance(backend, changed)  # the hand-off: the runs of what changed
                except Exception:
                    logger.exception("scheduler tick failed; trying again")
                    connections.close_all()
                changed = self._wait(backend, next_look - time.monotonic())
        finally:
            connections.close_all()
            close = getattr(backend, "close", None)
            if close is not None:
                close()

    def _wait(self, backend, timeout: float) -> list[str]:
        """What changed within `timeout` (or nothing, at once, when the loop is being stopped)."""
        if self._stopping.is_set():
            return []
        return self._watch(backend, max(timeout, 0.0))

    def _watch(self, backend, timeout: float) -> list[str]:
        if backend is not None:
            try:
                return backend.watch(timeout)
            except Exception:
                if not self._watch_failed:  # once: it would fail the same way twice a second
                    logger.exception("waiting for the backend failed; polling instead")
                self._watch_failed = True
        self._stopping.wait(timeout)
        return []

    @staticmethod
    def _active() -> bool:
        from polyflow.models import PipelineRun
        from polyflow.statuses import RUN_ACTIVE

        return PipelineRun.objects.filter(status__in=RUN_ACTIVE).exists()

    @staticmethod
    def _advance(backend, handles: list[str]) -> None:
        from polyflow.scheduler.tick import advance

        SchedulerLoop._log(advance(backend=backend, start=False, handles=handles))

    @staticmethod
    def _tick(backend) -> None:
        from polyflow.scheduler.tick import tick

        SchedulerLoop._log(tick(backend=backend))

    @staticmethod
    def _log(report) -> None:
        if (report.runs_created or report.runs_started or report.submitted or sum(report.finished.values())
                or report.retrying or sum(report.runs_finished.values()) or report.errors):
            for line in report.lines():
                logger.info("tick: %s", line)
