"""The local backend: each attempt is a process on this machine.

Every attempt has a directory `<POLYFLOW HOME>/runs/<key>/`:

- `spec.json`    what to run: argv, env (Polyflow's variables; the rest is
                 the submitter's environment), cwd, timeout, image (not used)
- `params.json`  the params, `$POLYFLOW_PARAMS_FILE`
- `outputs.json` `$POLYFLOW_OUTPUTS_FILE`, written by the op if it has outputs
- `output.log`   the op's stdout and stderr
- `claim`        the runner that took the attempt (created exclusively)
- `process.json` the runner's and the op's pid and start time (and whether the
                 runner was forked by the server), written once running
- `result.json`  exit code, reason, message and times, written at the end
- `stop`         present once `stop` was asked, for a runner not recorded yet
- `resumed`      made by the submit that took over a directory its first
                 submit left without a runner (that worker died)

`submit` creates the directory (os.mkdir, atomic: the first of two racing
submits wins, the second starts nothing, unless the directory was left
without a runner for RESUME_GRACE seconds: then it starts one) and has the runs directory's fork
server (local_forkserver.py, started by the first submit that needs it) fork
a runner for it: no new interpreter per attempt. The runner is detached (a
child of that server, in a session of its own), so `polyflow tick` returns
while ops run and a scheduler that dies leaves them running. When the server
cannot be reached, `submit` launches `local_runner.py` directly, as a process
of its own, through a `sh` that starts it in the background and exits at
once (nobody's child here: no zombie). Either way the runner runs with the
submitter's environment (minus `POLYFLOW_PARAM_*` and the secret key) and umask, plus the op's
variables: a shared server gets them with each request.

Everything after that goes through the files, so any process on this machine
can `sync` an attempt that another one submitted. `sync` passes what the op
published (`outputs.json`, as written) to the scheduler, whose parser checks
it. `watch` waits for the runners' signals (local_signal.py): a scheduler
ticks as soon as an attempt starts or ends instead of polling. `read_metrics`
reads the metric lines of output.log from a byte offset (docs/metrics.md).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..conf import polyflow_settings
from ..scheduler.metric_lines import MAX_LINE_BYTES, is_metric_line
from ..scheduler.outputs import MAX_OUTPUTS_BYTES
from ..telemetry import instruments
from . import local_forkserver, local_signal, local_volumes
from . import local_runner as files
from .base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, Backend, Observation, Submission, SubmitError
from .container import ENV_PREFIX, as_received, jsonable, localized, param_env, render_command
from .local_artifacts import transfer_steps

logger = logging.getLogger("polyflow.backends.local")
RUNNER = str(Path(files.__file__).resolve())
# A directory without process.json this long after its last change: the
# submitter died before its runner got going.
START_GRACE = 30.0
# A submit writes its attempt's files within milliseconds of making its directory: one left
# this long with no runner was left by a worker that died, and the next submit takes it over.
RESUME_GRACE = 5.0
RESUMED = "resumed"  # made by the one submit that takes an abandoned attempt over
# A start signal alone is reported this much later, unless an end comes first:
# see `watch`. Only how soon an op shows as running waits for it.
STARTED_GRACE = 0.05
# After the runner server could not be reached, runners are launched directly this long.
SERVER_RETRY = 60.0
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A read of an attempt's log for metrics scans at most this much of it (the rest at the next read).
METRICS_READ_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


def _published(path: Path) -> bytes | None:
    """What the op wrote to its outputs file, unread: the scheduler's parser checks it.

    At most one byte over the parser's limit is read, enough for it to refuse
    a huge file without this process loading it.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_OUTPUTS_BYTES + 1)
    except FileNotFoundError:
        return None


def _keep(raw: bytes, lines: list[str]) -> None:
    """A metric line is passed on, one over the parser's limit cut just past it (refused there)."""
    line = raw[:MAX_LINE_BYTES + 1].decode("utf-8", "replace").rstrip("\r")
    if is_metric_line(line):
        lines.append(line)


def metric_lines(path: Path, offset: int, complete: bool, budget: int = METRICS_READ_BYTES) -> tuple[list[str], int]:
    """The metric lines of the log at `path` from byte `offset`, and the offset after the last
    whole line read: at most `budget` bytes are read, a last line without its newline is left
    for the next read unless the log is `complete` (the op has ended), and a line longer than
    the parser's limit is passed on cut short (the parser reports it) and its rest skipped."""
    lines: list[str] = []
    with open(path, "rb") as log:
        log.seek(offset)
        position = offset  # where buffer starts in the file: everything before it is read
        buffer = b""
        skipping = False  # inside a line over the limit: its rest is consumed unread
        remaining = budget
        while remaining > 0:
            chunk = log.read(min(_CHUNK, remaining))
            if not chunk:
                if buffer and complete and not skipping:
                    _keep(buffer, lines)
                    position += len(buffer)
                break
            remaining -= len(chunk)
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                if skipping:
                    skipping = False
                else:
                    _keep(buffer[start:end], lines)
                start = end + 1
            position += start
            buffer = buffer[start:]
            if skipping or len(buffer) > MAX_LINE_BYTES:
                if not skipping:
                    _keep(buffer, lines)
                    skipping = True
                position += len(buffer)
                buffer = b""
    return lines, position


# Never handed to ops: an op that prints its environment would put it in a log every
# reader of the project can read.
SECRET_KEY_VARIABLE = "POLYFLOW_SECRET_KEY"


def runner_env() -> dict[str, str]:
    """The environment a runner gets: the submitter's, without the params of whatever op it was
    given, nor the standalone project's secret key."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith(ENV_PREFIX) and name != SECRET_KEY_VARIABLE}


def _umask() -> int | None:
    """This process's umask, which a forked runner takes over; read without changing it (threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def watch_until(deadline: float, first_start: float | None, ended: bool) -> float:
    """When a wait for signals returns (pure): at once after an end, STARTED_GRACE
    after the first start signal, else at the caller's deadline."""
    if ended:
        return float("-inf")
    if first_start is not None:
        return min(deadline, first_start + STARTED_GRACE)
    return deadline


def _datetime(value) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: str | os.PathLike | None = None, kill_grace: float = files.DEFAULT_KILL_GRACE,
                 start_grace: float = START_GRACE, fork_server: bool = True,
                 server_idle: float = local_forkserver.IDLE_EXIT):
        self._root = Path(root) if root is not None else None
        self.kill_grace = kill_grace
        self.start_grace = start_grace
        self.fork_server = fork_server  # False: a new interpreter per attempt, as a fallback does
        self.server_idle = server_idle
        self._listener: local_signal.Listener | None = None
        self._warned: set[str] = set()
        self._server_retry_at = 0.0  # after the runner server failed us: when to ask it again

    @property
    def root(self) -> Path:
        """`<POLYFLOW HOME>/runs`, read when used (tests change the setting)."""
        if self._root is not None:
            return self._root
        return Path(polyflow_settings.HOME) / "runs"

    @property
    def workspaces_root(self) -> Path:
        """`<POLYFLOW HOME>/workspaces`: a directory per run with a workspace (local_volumes.py)."""
        return self.root.parent / "workspaces"

    def end_run(self, run_uuid: str) -> None:
        try:
            local_volumes.remove_workspace(self.workspaces_root, run_uuid)
        except OSError as error:
            logger.warning("end of run %s: cannot remove its workspace: %s", run_uuid, error)

    def describe_once(self) -> str:
        return f"backend: local (ops run as processes on this machine; attempts in {self.root})"

    def directory(self, handle: str) -> Path:
        return self.root / handle

    # -- submit --------------------------------------------------------------

    def prepare(self) -> None:
        """Start the runner server now, in the background, if none runs: the first submit of
        a fresh POLYFLOW_HOME then finds it listening instead of waiting for it to start."""
        if not self.fork_server:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            local_forkserver.prepare(os.path.abspath(self.root), sys.executable or "python3", self.server_idle)
        except (OSError, local_forkserver.Unavailable):
            pass  # the first submit tries again, and starts its runner itself if it must

    def submit(self, submission: Submission) -> str:
        with instruments.request(self.name, "submit"):  # its latency and errors, when metrics are recorded
            return self._submit(submission)

    def _submit(self, submission: Submission) -> str:
        key = submission.key
        if not _KEY.match(key) or key in (".", ".."):
            raise SubmitError(f"invalid attempt key {key!r}: not usable as a directory name", permanent=True)
        template = submission.template
        container = template.container
        if not container.command:
            raise SubmitError(self._no_command_message(submission), permanent=True)
        local_volumes.check_mounts(submission)
        directory = self.directory(key)
        # The op sees its artifact inputs where the runner puts them (DESIGN section 10).
        submission = localized(submission, str(directory / files.INPUTS))
        command, args = render_command(submission)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not _abandoned(directory):
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
        env["POLYFLOW_OUTPUTS_DIR"] = str(directory / files.OUTPUTS_DIR)
        os.makedirs(directory / files.OUTPUTS_DIR, exist_ok=True)
        workspace = local_volumes.ensure_workspace(self.workspaces_root, submission)
        if workspace:
            env["POLYFLOW_WORKSPACE"] = workspace
        # What a pod's process would get: the template's `$(VAR)` expanded, params as they are.
        argv, env = as_received(command + args, env)
        spec = {
            "key": key,
            "argv": argv,
            "env": env,
            "cwd": cwd,
            "timeout": submission.timeout if submission.timeout and submission.timeout > 0 else None,
            "kill_grace": self.kill_grace,
            "image": container.image,
            "submitted_at": files.now_iso(),
            "submitted_by": {"pid": os.getpid(), "host": socket.gethostname()},
            **transfer_steps(submission, directory),
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
            self._start(directory, log)
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

    def _start(self, directory: Path, log) -> None:
        env = runner_env()
        python = sys.executable or "python3"
        if self.fork_server and time.monotonic() >= self._server_retry_at:
            try:
                # Absolute: the server runs in / and serves whoever names the same directory.
                local_forkserver.start(os.path.abspath(self.root), os.path.abspath(directory), env, _umask(),
                                       python, self.server_idle)
                return
            except local_forkserver.Unavailable as error:
                # Started directly instead; the runner's claim keeps a late answer from running it twice.
                # Not asked again for a while: each try may wait seconds for a server that does not come.
                self._server_retry_at = time.monotonic() + SERVER_RETRY
                self._warn_once(f"local backend: {error}; starting runners directly (slower) for "
                                f"{SERVER_RETRY:g} s")
        self._launch(directory, log, env, python)

    def _launch(self, directory: Path, log, env: dict[str, str], python: str) -> None:
        """Start a runner of its own in the background of a `sh` that exits at once.

        The runner is re-parented to init (or the nearest subreaper), never
        our child; the `sh` is waited for here, so no zombie is left. The new
        session keeps the terminal's signals (Ctrl-C of `polyflow tick`, a
        hangup) away from it. Its stdout and stderr go to output.log: nothing
        holds the caller's pipes open.
        """
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", '"$@" &', "sh", python, "-I", "-S", RUNNER, str(directory)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True, close_fds=True,
            )
            process.wait()
        except OSError as error:
            # The directory stays: a later submit of the key starts nothing, and
            # sync reports it LOST after the start grace.
            raise SubmitError(f"cannot start the local runner for {directory.name}: {error}") from error

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            logger.warning(message)

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
        message = result.get("message") or ""
        state = SUCCEEDED if exit_code == 0 and not reason else FAILED
        try:
            outputs = _published(directory / files.OUTPUTS)
        except OSError as error:
            outputs = None
            if state == SUCCEEDED:
                state, reason = FAILED, "invalid_outputs"
                message = f"cannot read the outputs file $POLYFLOW_OUTPUTS_FILE ({error.filename}): {error.strerror}"
        return Observation(
            state=state,
            exit_code=exit_code,
            reason=reason,
            message=message,
            outputs=outputs,
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

    def read_metrics(self, cursors: Mapping[str, str]) -> dict[str, tuple[list[str], str]]:
        """The metric lines of each attempt's output.log since its cursor, a byte offset
        (`metric_lines`): at most METRICS_READ_BYTES per attempt and read."""
        result: dict[str, tuple[list[str], str]] = {}
        for handle, cursor in cursors.items():
            if not _KEY.match(handle) or handle in (".", ".."):
                continue
            directory = self.directory(handle)
            try:
                offset = max(int(cursor), 0) if cursor else 0
            except ValueError:
                offset = 0
            try:
                # Looked at before the log: once the result is there, the log is complete.
                complete = (directory / files.RESULT).exists()
                lines, offset = metric_lines(directory / files.LOG, offset, complete)
            except FileNotFoundError:
                if directory.is_dir():
                    result[handle] = ([], str(offset))  # nothing printed yet
                continue
            except OSError as error:
                logger.warning("local backend: cannot read the metrics of %s (asked again next time): %s", handle,
                               error)
                continue
            result[handle] = (lines, str(offset))
        return result

    # -- watch -----------------------------------------------------------------

    def watch(self, timeout: float) -> list[str]:
        """Wait up to `timeout` s for runners to record a start or an end; the keys they sent.

        An end returns at once. A start alone waits up to STARTED_GRACE more
        for further signals: an op that ends within it costs the scheduler one
        tick instead of two (one to record it running, then one for its end,
        which would have to wait for the first to finish).

        The first call starts listening (a socket in `<runs>/.listeners`); call
        it once with 0 before the first tick so that nothing is missed. The
        socket is removed by `close`, at the latest when the process exits.
        """
        root = str(self.root)
        if self._listener is None or self._listener.root != root:
            self.close()
            if self._listener is None:
                atexit.register(self.close)
            self._listener = local_signal.Listener(root)
        deadline = time.monotonic() + max(timeout, 0.0)
        changed: dict[str, None] = {}
        first_start, ended = None, False
        try:
            while True:
                signals = self._listener.wait(watch_until(deadline, first_start, ended) - time.monotonic())
                for event, key in signals:
                    changed[key] = None
                    ended = ended or event == local_signal.ENDED
                    if first_start is None and event == local_signal.STARTED:
                        first_start = time.monotonic()
                if time.monotonic() >= watch_until(deadline, first_start, ended):
                    return list(changed)
        except OSError as error:
            self._warn_once(f"local backend: {error}; noticing the ends of ops by polling only")
            return super().watch(max(deadline - time.monotonic(), 0.0))

    def close(self) -> None:
        """Stop listening (the runners' signals): the listener's socket is removed."""
        if self._listener is not None:
            self._listener.close()


def _abandoned(directory: Path) -> bool:
    """Whether an existing attempt directory was left by a submit that died before starting its
    runner (so this submit should start it): no runner took it, nothing was written to it for
    RESUME_GRACE seconds, and no other submit took it over first."""
    if (directory / files.CLAIM).exists() or (directory / files.RESULT).exists():
        return False
    try:
        if time.time() - directory.stat().st_mtime < RESUME_GRACE:
            return False  # a submit may be writing it right now
        os.close(os.open(directory / RESUMED, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError:  # gone, or another submit took it over
        return False
    return True
