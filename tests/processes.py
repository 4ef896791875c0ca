"""Real processes the end-to-end tests start: `polyflow server`, a Celery worker with
its beat, and what they need (a Redis database, the test database's URL).

Shared by tests/test_cli_server.py, tests/test_celery.py and tests/host/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT, LineReader

SERVER_START = 60  # seconds for `polyflow server` to print its banner


class Server:
    """`polyflow server --port 0` in a subprocess, once its banner is printed.

    `command` is how polyflow is started (default: this interpreter's
    `-m polyflow.cli`), `cwd` where (default: the repository).
    """

    def __init__(self, env, *args, command: list[str] | None = None, cwd: Path = ROOT):
        command = command or [sys.executable, "-m", "polyflow.cli"]
        self.process = subprocess.Popen(
            [*command, "server", "--port", "0", *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.stdout = LineReader(self.process.stdout)
        self.stderr = LineReader(self.process.stderr)  # read all along: the loop logs there
        try:
            self.banner = self.stdout.until(r"^Ctrl-C stops the server\.", timeout=SERVER_START)
        except AssertionError as error:
            self.process.kill()
            raise AssertionError(f"the server did not start: {error}\n{self.stderr.rest(5)}") from None
        self.url = re.match(r"Polyflow \S+ serving (http://127\.0\.0\.1:\d+)/ with waitress", self.banner).group(1)

    def stop(self, signum=signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        self.process.wait(timeout=40)
        return self.process.returncode, self.stderr.rest()


def wait_for_run(session, url: str, done, deadline: float = 60) -> dict:
    """The run at `url` (the API's), polled with `session` until `done(run)`."""
    give_up = time.monotonic() + deadline
    while True:
        run = session.get(url, timeout=10).json()
        if done(run):
            return run
        assert time.monotonic() < give_up, f"the run did not finish in {deadline} s: {run}"
        time.sleep(0.2)


def redis_or_skip(url: str):
    """A client of the Redis database `url`, flushed; the test is skipped when Redis is down."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        pytest.skip(f"Redis is not reachable at {url} ({error}); .ci/run starts it")
    client.flushdb()
    return client


def database_url(db: dict, name: str | None = None) -> str:
    """A Django DATABASES entry (PostgreSQL) as a DATABASE_URL, for a subprocess; `name` another database."""
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}{'@' if credentials else ''}{host}/{name or db['NAME']}"


class Worker:
    """`celery -A APP worker --beat` (solo pool) in a process group of its own, logging to a file."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path, cwd: Path = ROOT):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", app, "worker", "--beat", "--pool=solo",
                 "--loglevel=INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """The worker and its beat (one process group): a warm shutdown, then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # The worker is gone; anything left in its group (the beat) goes too.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
