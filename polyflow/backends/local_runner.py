"""Runs one attempt of the local backend, in a process of its own.

Started for an attempt directory by `LocalBackend.submit`: usually forked by
the runs directory's fork server (local_forkserver.py, itself started as
`python -I -S local_runner.py --serve <runs directory>`), else directly as
`python -I -S local_runner.py <attempt directory>`. Either way it is detached:
it outlives the process that submitted. It claims the attempt (`claim`,
created exclusively: a runner that finds it taken leaves at once, so a late
answer of the server and a direct launch never both run the op), reads
`spec.json`, starts the op's command in a process group of its own (stdout
and stderr appended to `output.log`), records `process.json`, waits,
enforces the timeout and writes `result.json` atomically; after each of the
two records it tells listening schedulers (local_signal.py). A SIGTERM (the
backend's `stop`) ends the op. The outputs file is left as the op wrote it:
the scheduler's parser reads it (polyflow/scheduler/outputs.py).

Standard library only and no import of the `polyflow` package (whose
`__init__` modules pull Django): it starts fast and is launched by file path.
The backend imports the helpers below from here, so both sides agree on the
file names and formats.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import traceback

if __package__:
    from . import local_signal
else:  # run by path with -I: the directory of this file is not on sys.path yet
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import local_signal

SPEC, PARAMS, OUTPUTS, LOG, PROCESS, RESULT, STOP, CLAIM = (
    "spec.json", "params.json", "outputs.json", "output.log", "process.json", "result.json", "stop", "claim",
)
# Where an attempt's artifact inputs are downloaded to and its path outputs are written
# (DESIGN section 10): `<attempt dir>/inputs/<name>`, `$POLYFLOW_OUTPUTS_DIR/<name>`.
INPUTS, OUTPUTS_DIR = "inputs", "outputs"
ARTIFACTS_REASON = "artifacts"
DEFAULT_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of the op's group


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def write_json_atomic(path: str, data: object) -> None:
    """Readers see the old file or the whole new one, never a part (see also make_durable)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)


def make_durable(path: str) -> None:
    """Flush a file written by write_json_atomic, and its name, to the disk (best effort).

    Done after the file is in place (and listeners told), not before the
    rename: the next op does not wait for the disk. A crash in between may
    leave the file empty, which readers take for no file.
    """
    for target, flags in ((path, os.O_RDONLY), (os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)):
        try:
            fd = os.open(target, flags)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def read_json(path: str) -> object | None:
    """The file's JSON, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of a process, None when it does not exist.

    Fields 3 and 22 of /proc/<pid>/stat; the command name (field 2) may hold
    spaces and parentheses, so fields are counted after its last ')'.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


def start_time(pid: int) -> int | None:
    stat = proc_stat(pid)
    return None if stat is None else stat[1]


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def is_alive(pid: int | None, recorded_start: int | None, recorded_boot: str | None = None) -> bool:
    """Whether `pid` is still the process that was recorded, not a recycled pid or a zombie."""
    if not pid:
        return False
    if recorded_boot and boot_id() not in (None, recorded_boot):
        return False  # the machine rebooted since
    stat = proc_stat(pid)
    if stat is None:
        if os.path.exists("/proc/self/stat"):
            return False
        try:  # no /proc (not Linux): existence only
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, started = stat
    if state in ("Z", "X"):
        return False
    return recorded_start is None or started == recorded_start


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Runner:
    def __init__(self, directory: str, launched: str = "direct"):
        self.directory = directory
        self.launched = launched  # "server" (forked by the fork server) or "direct"
        self.spec = read_json(self.path(SPEC))
        if not isinstance(self.spec, dict):
            raise RuntimeError(f"cannot read {self.path(SPEC)}")
        self.grace = float(self.spec.get("kill_grace") or DEFAULT_KILL_GRACE)
        self.child: subprocess.Popen | None = None
        self.reason = ""
        self.message = ""
        self.escalate = False  # the next alarm sends SIGKILL
        self.started_at = now_iso()

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    # Signal handlers: they run in the main thread between bytecodes, also while
    # it blocks in waitpid (which is then retried, PEP 475).
    def on_stop(self, signum, frame) -> None:
        self.end("stopped", f"stopped ({_signal_name(signum)} to the runner)")

    def on_alarm(self, signum, frame) -> None:
        if self.escalate:
            self.kill_group(signal.SIGKILL)
        else:
            self.end("timeout", f"timed out after {self.spec.get('timeout')} s: its process group was killed")

    def end(self, reason: str, message: str) -> None:
        if not self.reason:
            self.reason, self.message = reason, message
        if self.child is None or self.escalate or self.child.returncode is not None:
            return  # not started yet (run() checks the reason), already ending, or over
        self.escalate = True
        self.kill_group(signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, max(self.grace, 0.01))

    def kill_group(self, signum: int) -> None:
        if self.child is None:
            return
        try:
            os.killpg(self.child.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.on_stop)
        signal.signal(signal.SIGINT, self.on_stop)  # also undoes the "ignored" of a background job
        signal.signal(signal.SIGALRM, self.on_alarm)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        if os.path.exists(self.path(STOP)):
            self.reason, self.message = "stopped", "stopped before the command started"
        if self.reason:
            self.finish(None)
            return
        spec = self.spec
        if spec.get("pull") and not self.transfer(spec["pull"]):
            return
        env = dict(os.environ)
        env.update(spec["env"])
        argv = spec["argv"]
        with open(self.path(LOG), "ab") as log:
            try:
                self.child = subprocess.Popen(
                    argv, cwd=spec["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                )
            except OSError as error:
                self.cannot_start(error, log)
                return
        self.record_process()
        # A stop that came before process.json existed left a marker (or a
        # signal arrived while the child was being started).
        if os.path.exists(self.path(STOP)) and not self.reason:
            self.reason, self.message = "stopped", "stopped (requested before the command had started)"
        if self.reason:
            reason, message = self.reason, self.message
            self.reason = ""
            self.end(reason, message)
        elif spec.get("timeout"):
            signal.setitimer(signal.ITIMER_REAL, float(spec["timeout"]))
        returncode = self.child.wait()
        signal.setitimer(signal.ITIMER_REAL, 0)
        # Like a container whose main process ended: what it left running goes too.
        self.kill_group(signal.SIGKILL)
        if returncode == 0 and not self.reason and spec.get("push") and not self.transfer(spec["push"], exit_code=0):
            return
        self.finish(returncode)

    def record_process(self) -> None:
        """process.json: who runs the attempt now (the runner, and the command or transfer it
        waits for); the first one also tells listeners that the attempt started."""
        first = not os.path.exists(self.path(PROCESS))
        pid = self.child.pid
        write_json_atomic(self.path(PROCESS), {
            "runner_pid": os.getpid(),
            "runner_start": start_time(os.getpid()),
            "child_pid": pid,
            "child_pgid": pid,
            "child_start": start_time(pid),
            "boot_id": boot_id(),
            "host": socket.gethostname(),
            "started_at": self.started_at,
            "launched": self.launched,
        })
        if first:
            notify(self.directory, local_signal.STARTED)

    def transfer(self, step: dict, exit_code: int | None = None) -> bool:
        """Run an artifact step (`python -m polyflow.artifacts pull|push`): its progress lines
        stream into the log; its error, if any, ends the attempt with reason `artifacts`.
        True when it succeeded and the attempt goes on."""
        env = dict(os.environ)
        env.update(step.get("env") or {})
        with open(self.path(LOG), "ab") as log:
            try:
                self.child = subprocess.Popen(
                    step["argv"], cwd=self.directory, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                )
            except OSError as error:
                message = f"cannot {step.get('what', 'move artifacts')}: cannot start {step['argv'][0]!r}: {error}"
                log.write(f"polyflow: {message}\n".encode())
                self.reason, self.message = ARTIFACTS_REASON, message
                self.finish(exit_code)
                return False
            self.record_process()
            if os.path.exists(self.path(STOP)) and not self.reason:
                self.end("stopped", "stopped (requested while its artifacts moved)")
            errors = self.child.stderr.read()  # what it says when it fails: a line or two
            returncode = self.child.wait()
            self.child.stderr.close()
            if errors:
                log.write(errors)
                log.flush()
        self.child = None
        if returncode == 0 and not self.reason:
            return True
        if not self.reason:
            said = errors.decode("utf-8", "replace").strip().splitlines()
            detail = said[-1].removeprefix("polyflow: ") if said else f"exit code {returncode}"
            self.reason, self.message = ARTIFACTS_REASON, f"could not {step.get('what', 'move artifacts')}: {detail}"
        self.finish(exit_code)
        return False

    def cannot_start(self, error: OSError, log) -> None:
        cwd = self.spec["cwd"]
        executable = self.spec["argv"][0]
        if isinstance(error, FileNotFoundError) and error.filename == cwd:
            exit_code, reason = 127, "not_found"
            message = f"working directory {cwd!r} does not exist"
        elif isinstance(error, FileNotFoundError):
            exit_code, reason = 127, "not_found"
            message = f"executable {executable!r} not found (PATH={os.environ.get('PATH', '')})"
        elif isinstance(error, PermissionError):
            exit_code, reason = 126, "permission_denied"
            message = f"cannot execute {executable!r}: {error.strerror}"
        else:
            exit_code, reason = 126, "cannot_start"
            message = f"cannot start {executable!r}: {error}"
        log.write(f"polyflow: {message}\n".encode())
        log.flush()  # in the log before the result says the attempt is over
        self.reason, self.message = reason, message
        self.finish(exit_code)

    def finish(self, returncode: int | None) -> None:
        exit_code = returncode
        reason, message = self.reason, self.message
        if returncode is not None and returncode < 0:
            exit_code = 128 - returncode
            if not reason:
                reason, message = "killed", f"killed by {_signal_name(-returncode)}"
        elif returncode and not reason:
            reason, message = "error", f"exited with code {returncode}"
        write_json_atomic(self.path(RESULT), {
            "exit_code": exit_code,
            "reason": reason,
            "message": message,
            "started_at": self.started_at,
            "finished_at": now_iso(),
        })
        notify(self.directory, local_signal.ENDED)
        make_durable(self.path(RESULT))  # so that a reboot does not turn a recorded end into "lost"


def notify(directory: str, event: str) -> None:
    """Wake the schedulers listening on the runs directory: this attempt started or ended."""
    directory = os.path.abspath(directory)
    local_signal.notify(os.path.dirname(directory), os.path.basename(directory), event)


def claim(directory: str) -> bool:
    """Take the attempt for this process; False when another runner has it."""
    try:
        fd = os.open(os.path.join(directory, CLAIM), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    return True


def run_attempt(directory: str, launched: str = "direct") -> int:
    """Run the attempt of `directory` in this process (the runner's whole life); the exit status."""
    if not claim(directory):
        return 0  # started twice (a server that answered late, then the fallback): the other one runs it
    runner = None
    try:
        runner = Runner(directory, launched)
        runner.run()
    except BaseException as error:  # record why, so sync reports it instead of "lost"
        traceback.print_exc()
        if runner is not None and runner.child is not None and runner.child.returncode is None:
            runner.kill_group(signal.SIGKILL)
        write_json_atomic(os.path.join(directory, RESULT), {
            "exit_code": None,
            "reason": "runner_error",
            "message": f"the local runner failed: {type(error).__name__}: {error}",
            "started_at": runner.started_at if runner else now_iso(),
            "finished_at": now_iso(),
        })
        notify(directory, local_signal.ENDED)
        return 1
    return 0


USAGE = "usage: local_runner.py <attempt directory> | local_runner.py --serve <runs directory> [--idle SECONDS]"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and not argv[1].startswith("-"):
        return run_attempt(argv[1])
    if len(argv) in (3, 5) and argv[1] == "--serve" and (len(argv) == 3 or argv[3] == "--idle"):
        if __package__:
            from . import local_forkserver
        else:
            import local_forkserver  # next to this file, like local_signal; only the server needs it

        try:
            idle = float(argv[4]) if len(argv) == 5 else local_forkserver.IDLE_EXIT
        except ValueError:
            print(f"{USAGE}\n--idle {argv[4]!r}: not a number of seconds", file=sys.stderr)
            return 2
        return local_forkserver.serve(argv[2], run_attempt, idle)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
