"""The local backend: each attempt is a process on this machine.

Every attempt has a directory `<POLYFLOW HOME>/runs/<key>/`:

- `spec.json`    what to run: argv, env (Polyflow's variables; the rest is
                 inherited), cwd, timeout, image (not used)
- `params.json`  the params, `$POLYFLOW_PARAMS_FILE`
- `outputs.json` `$POLYFLOW_OUTPUTS_FILE`, written by the op if it has outputs
- `output.log`   the op's stdout and stderr
- `process.json` the runner's and the op's pid and start time, written once running
- `result.json`  exit code, reason, message, outputs and times, written at the end
- `stop`         present once `stop` was asked, for a runner not recorded yet

`submit` creates the directory (os.mkdir, atomic: the first of two racing
submits wins, the second starts nothing) and launches `local_runner.py`
detached: through a `sh` that starts it in the background and exits at
once, so the runner is nobody's child here (no zombie in a long-lived
scheduler, and `polyflow tick` returns while ops run). Everything after that
goes through the files, so any process on this machine can `sync` an attempt
that another one submitted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from ..conf import polyflow_settings
from . import local_runner as files
from .base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, Backend, Observation, Submission, SubmitError
from .container import ENV_PREFIX, jsonable, param_env, render_command

RUNNER = str(Path(files.__file__).resolve())
# A directory without process.json this long after its last change: the
# submitter died before its runner got going.
START_GRACE = 30.0
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _datetime(value) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: str | os.PathLike | None = None, kill_grace: float = files.DEFAULT_KILL_GRACE,
                 start_grace: float = START_GRACE):
        self._root = Path(root) if root is not None else None
        self.kill_grace = kill_grace
        self.start_grace = start_grace

    @property
    def root(self) -> Path:
        """`<POLYFLOW HOME>/runs`, read when used (tests change the setting)."""
        if self._root is not None:
            return self._root
        return Path(polyflow_settings.HOME) / "runs"

    def describe_once(self) -> str:
        return f"backend: local (ops run as processes on this machine; attempts in {self.root})"

    def directory(self, handle: str) -> Path:
        return self.root / handle

    # -- submit --------------------------------------------------------------

    def submit(self, submission: Submission) -> str:
        key = submission.key
        if not _KEY.match(key) or key in (".", ".."):
            raise SubmitError(f"invalid attempt key {key!r}: not usable as a directory name", permanent=True)
        template = submission.template
        container = template.container
        if not container.command:
            raise SubmitError(self._no_command_message(submission), permanent=True)
        command, args = render_command(submission)
        directory = self.directory(key)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory)
        except FileExistsError:
            return key  # submitted before (a racing tick, a retried task): start nothing
        except OSError as error:
            raise SubmitError(f"cannot create {directory}: {error}") from error

        if container.working_dir and os.path.isabs(container.working_dir):
            cwd = container.working_dir
        elif container.working_dir:
            cwd = str(directory / container.working_dir)
            os.makedirs(cwd, exist_ok=True)
        else:
            cwd = str(directory)
        env = param_env(submission)
        env["POLYFLOW_PARAMS_FILE"] = str(directory / files.PARAMS)
        env["POLYFLOW_OUTPUTS_FILE"] = str(directory / files.OUTPUTS)
        spec = {
            "key": key,
            "argv": command + args,
            "env": env,
            "cwd": cwd,
            "timeout": submission.timeout if submission.timeout and submission.timeout > 0 else None,
            "kill_grace": self.kill_grace,
            "image": container.image,
            "submitted_at": files.now_iso(),
            "submitted_by": {"pid": os.getpid(), "host": socket.gethostname()},
        }
        files.write_json_atomic(str(directory / files.PARAMS), jsonable(submission.params))
        files.write_json_atomic(str(directory / files.SPEC), spec)
        with open(directory / files.LOG, "ab") as log:
            if container.image:
                log.write(
                    f"polyflow: local backend: running the command on this machine; "
                    f"image '{container.image}' is not used\n".encode()
                )
            log.flush()
            self._launch(directory, log)
        return key

    def _no_command_message(self, submission: Submission) -> str:
        template = submission.template
        if template.build is not None:
            what = "has a build and no container command"
        elif template.container.image:
            what = f"has no container command (it would run the entrypoint of image '{template.container.image}')"
        else:
            what = "has no container command"
        return (
            f"template '{template.name}' of op '{submission.op}' {what}: the local backend runs only commands "
            f"on this machine, it neither builds nor runs images; use the kubernetes backend for images"
        )

    def _launch(self, directory: Path, log) -> None:
        """Start the runner in the background of a `sh` that exits at once.

        The runner is re-parented to init (or the nearest subreaper), never
        our child; the `sh` is waited for here, so no zombie is left. The new
        session keeps the terminal's signals (Ctrl-C of `polyflow tick`, a
        hangup) away from it. Its stdout and stderr go to output.log: nothing
        holds the caller's pipes open.
        """
        base_env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
        python = sys.executable or "python3"
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", '"$@" &', "sh", python, "-I", "-S", RUNNER, str(directory)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=base_env,
                start_new_session=True, close_fds=True,
            )
            process.wait()
        except OSError as error:
            # The directory stays: a later submit of the key starts nothing, and
            # sync reports it LOST after the start grace.
            raise SubmitError(f"cannot start the local runner for {directory.name}: {error}") from error

    # -- sync ----------------------------------------------------------------

    def sync(self, handles: Iterable[str]) -> dict[str, Observation]:
        now = time.time()
        return {handle: self._observe(handle, now) for handle in handles}

    def _result(self, directory: Path) -> Observation | None:
        result = files.read_json(str(directory / files.RESULT))
        if not isinstance(result, dict):
            return None
        exit_code = result.get("exit_code")
        reason = result.get("reason") or ""
        outputs = result.get("outputs")
        return Observation(
            state=SUCCEEDED if exit_code == 0 and not reason else FAILED,
            exit_code=exit_code,
            reason=reason,
            message=result.get("message") or "",
            outputs=outputs if isinstance(outputs, dict) else {},
            started_at=_datetime(result.get("started_at")),
            finished_at=_datetime(result.get("finished_at")),
        )

    def _observe(self, handle: str, now: float) -> Observation:
        directory = self.directory(handle)
        if not _KEY.match(handle) or not directory.is_dir():
            return Observation(LOST, reason="lost", message=f"no trace of this attempt: {directory} does not exist")
        observed = self._result(directory)
        if observed is not None:
            return observed
        process = files.read_json(str(directory / files.PROCESS))
        if isinstance(process, dict):
            if process.get("host") not in (None, socket.gethostname()):
                # Another machine's process table cannot be read from here.
                return Observation(RUNNING, started_at=_datetime(process.get("started_at")),
                                   message=f"running on {process['host']}")
            if files.is_alive(process.get("runner_pid"), process.get("runner_start"), process.get("boot_id")):
                return Observation(RUNNING, started_at=_datetime(process.get("started_at")))
            # The runner may have written its result and exited since we looked.
            observed = self._result(directory)
            if observed is not None:
                return observed
            killed = self._kill_orphan(process)
            return Observation(
                LOST, reason="lost", started_at=_datetime(process.get("started_at")),
                message=(
                    f"the runner of this attempt (pid {process.get('runner_pid')}) ended without recording "
                    f"a result: a worker died, the machine rebooted or someone killed it{killed}"
                ),
            )
        try:
            age = now - directory.stat().st_mtime
        except FileNotFoundError:
            age = 0.0
        if age > self.start_grace:
            return Observation(
                LOST, reason="lost",
                message=f"the attempt never started: no runner recorded {age:.0f} s after it was submitted "
                        f"(the submitting worker may have died)",
            )
        return Observation(PENDING)

    @staticmethod
    def _kill_orphan(process: dict) -> str:
        """The op of a dead runner may still run: end it, so a retry does not run beside it."""
        pid = process.get("child_pgid") or process.get("child_pid")
        if not files.is_alive(process.get("child_pid"), process.get("child_start"), process.get("boot_id")):
            return ""
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return ""
        return f"; its command (process group {pid}) was still running and has been killed"

    # -- stop, logs ----------------------------------------------------------

    def stop(self, handles: Iterable[str]) -> None:
        for handle in handles:
            directory = self.directory(handle)
            if not _KEY.match(handle) or not directory.is_dir() or (directory / files.RESULT).exists():
                continue
            # The marker first: a runner that has not written process.json yet
            # checks it after writing process.json, so one of us sees the other.
            try:
                with open(directory / files.STOP, "a", encoding="utf-8") as marker:
                    marker.write(f"{files.now_iso()} stop requested by pid {os.getpid()}\n")
            except OSError:
                pass
            process = files.read_json(str(directory / files.PROCESS))
            if not isinstance(process, dict) or process.get("host") not in (None, socket.gethostname()):
                continue
            pid = process.get("runner_pid")
            if files.is_alive(pid, process.get("runner_start"), process.get("boot_id")):
                try:
                    os.kill(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass

    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        if not _KEY.match(handle) or (tail is not None and tail <= 0):
            return []
        try:
            with open(self.directory(handle) / files.LOG, encoding="utf-8", errors="replace") as log:
                lines = deque(log, maxlen=tail) if tail is not None else list(log)
        except FileNotFoundError:
            return []
        return [line.rstrip("\n") for line in lines]
