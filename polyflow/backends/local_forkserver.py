"""The local backend's fork server: starts runners without starting a Python.

One server per runs directory listens on `<root>/.runner.sock`. A request
names an attempt directory and carries the submitter's environment and
umask; the server answers at once and hands it to a spare child it forked
beforehand, which becomes that attempt's runner (`local_runner.run_attempt`),
and forks the next spare. No interpreter starts and no fork waits: an
attempt is running a millisecond or so after its submit, instead of the
30-50 ms of `python local_runner.py`.

- Started on demand by the first submit that finds no server (`launch`,
  through the same detaching `sh` as a direct runner), with `python -I -S
  local_runner.py --serve <root>`: standard library only, none of the
  submitter's Django state or open sockets.
- One at a time: a server holds an exclusive flock on `<root>/.runner.lock`
  (which records its pid) for its whole life, and only the holder binds the
  socket, replacing a stale one left by a server that was killed. Two
  submitters racing to start one end with one; the loser exits.
- Children: each spare calls setsid (a signal to the server's group never
  reaches a runner) and is reaped by the kernel (SIGCHLD ignored here), so
  the server leaves no zombies, and it may exit while its runners go on; a
  spare whose server is gone reads end-of-file and exits.
- It exits after IDLE_EXIT seconds without a request, when its socket file
  is removed or replaced, on SIGTERM, and when a client runs other code than
  it does (`code_version`: the package was upgraded), so a new one starts.
- Only its own user may use it: the socket is created with no access for
  group and others, and the peer's uid is checked; a request names a
  directory directly under `root`.

The client side (`start`) is used by `LocalBackend.submit`, which falls back
to a direct launch when the server cannot be reached or does not answer: an
attempt is never lost to it, and the runner's claim on its directory (see
local_runner.py) makes sure that a late answer and a fallback do not both
run it.

Standard library only, like local_runner.py, which imports it by file path.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback

if __package__:
    from .local_signal import ShortPaths
else:  # imported by local_runner.py started by path: its directory is on sys.path
    from local_signal import ShortPaths

SOCKET, LOCK, SERVER_LOG = ".runner.sock", ".runner.lock", ".runner.log"
IDLE_EXIT = 600.0  # seconds without a request before the server exits
CHECK_EVERY = 1.0  # seconds between checks that the socket file is still this server's
LOCK_WAIT = 3.0  # a starting server waits this long for an exiting one to let go of the lock
START_WAIT = 3.0  # a client waits this long for a server it launched to listen
REPLY_TIMEOUT = 3.0  # a client waits this long for the answer to a request
MAX_REQUEST = 8 * 1024 * 1024  # bytes; an environment is far smaller
_HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(_HERE, "local_runner.py")
_CODE = ("local_runner.py", "local_forkserver.py", "local_signal.py")
_EXIT = object()  # what a request that makes the server exit gets from _handle
# When this process launched a server not seen answering yet, by root: `start` waits for
# one launched less than START_WAIT ago (by `prepare`, say) rather than launch another.
_launched: dict[str, float] = {}


def code_version() -> str:
    """Which files a server runs: a client with other files on disk asks for a new server."""
    parts = []
    for name in _CODE:
        try:
            stat = os.stat(os.path.join(_HERE, name))
        except OSError:
            parts.append(f"{name}:missing")
        else:
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return " ".join(parts)


SERVER_NAME, SPARE_NAME, RUNNER_NAME = "polyflow-fork", "polyflow-spare", "polyflow-runner"


def set_process_name(name: str) -> None:
    """What `ps -o comm`, `top` and `pgrep` show; the forks share the server's command line."""
    try:
        with open("/proc/self/comm", "w", encoding="ascii") as comm:
            comm.write(name[:15])
    except OSError:
        pass


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} polyflow runner server {os.getpid()}: {message}",
          file=sys.stderr, flush=True)


# -- the client ------------------------------------------------------------------


class Unavailable(Exception):
    """No server answered; the caller starts the runner itself."""


class _NoServer(Exception):
    """Nobody listens (no socket file, or a stale one), or the one listening runs other code."""


def _ask(root: str, request: bytes, timeout: float) -> dict:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(timeout)
        with ShortPaths(root) as paths:
            try:
                client.connect(paths.of(SOCKET))
            except (FileNotFoundError, ConnectionRefusedError) as error:
                raise _NoServer(str(error)) from error
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                break
            reply += chunk
    except (ConnectionResetError, BrokenPipeError) as error:
        # Closed on us: a server exiting (idle) with our connection still queued. Starting another
        # is safe even if this one did hand the request over: a runner claims its attempt.
        raise _NoServer(f"the connection was closed: {error}") from error
    except OSError as error:  # a timeout: a server that hangs; another could not take the lock
        raise Unavailable(f"the runner server of {root} did not answer: {error}") from error
    finally:
        client.close()
    if not reply:
        raise _NoServer("the connection was closed without an answer")
    try:
        answer = json.loads(reply)
    except ValueError:
        raise Unavailable(f"the runner server of {root} sent no answer ({reply[:200]!r})") from None
    if answer.get("error") == "version":
        raise _NoServer(answer.get("message", "it runs other code"))
    if answer.get("accepted") is not True:
        raise Unavailable(f"the runner server of {root} refused: {answer.get('message') or answer}")
    return answer


def start(root: str, directory: str, env: dict[str, str], umask: int | None, python: str,
          idle: float = IDLE_EXIT) -> None:
    """Have the server of `root` start the runner of `directory`.

    Launches a server when none listens (or the one listening is outdated) and
    asks again; raises Unavailable when that does not work out either.
    """
    request = (json.dumps({"directory": directory, "env": env, "umask": umask,
                           "version": code_version()}) + "\n").encode()
    try:
        _ask(root, request, REPLY_TIMEOUT)
        _launched.pop(root, None)
        return
    except _NoServer:
        pass
    if time.monotonic() - _launched.get(root, -START_WAIT) >= START_WAIT:
        launch(root, python, idle)
    deadline = time.monotonic() + START_WAIT
    while True:
        try:
            _ask(root, request, REPLY_TIMEOUT)
            _launched.pop(root, None)
            return
        except _NoServer as error:
            if time.monotonic() > deadline:
                raise Unavailable(f"the runner server of {root} did not start within {START_WAIT} s "
                                  f"({error}; its log: {os.path.join(root, SERVER_LOG)})") from None
            time.sleep(0.005)


def prepare(root: str, python: str, idle: float = IDLE_EXIT) -> None:
    """Launch a server now, not waiting for it, unless one listens (or left its socket file:
    `start` deals with that one): a submit that follows finds it up, or waits for it."""
    if not os.path.exists(os.path.join(root, SOCKET)):
        launch(root, python, idle)


def launch(root: str, python: str, idle: float = IDLE_EXIT) -> None:
    """Start a server in the background of a `sh` that exits at once (so it is nobody's child)."""
    _launched[root] = time.monotonic()
    # Its own environment is only for itself: each request brings the one its runner gets.
    env = {name: value for name, value in os.environ.items() if not name.startswith("POLYFLOW_")}
    with open(os.path.join(root, SERVER_LOG), "ab") as server_log:
        try:
            subprocess.run(
                ["/bin/sh", "-c", '"$@" &', "sh", python, "-I", "-S", RUNNER, "--serve", root, "--idle", str(idle)],
                stdin=subprocess.DEVNULL, stdout=server_log, stderr=server_log, env=env, cwd="/",
                start_new_session=True, close_fds=True, check=False,
            )
        except OSError as error:
            raise Unavailable(f"cannot start the runner server of {root}: {error}") from error


# -- the server ------------------------------------------------------------------


def _take_lock(root: str) -> int | None:
    """The lock file's descriptor once this process holds the lock, or None when another server keeps it."""
    fd = os.open(os.path.join(root, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.01)


def _peer_uid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None  # not Linux: the socket's mode is the guard
    return struct.unpack("3i", creds)[1]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while len(data) <= MAX_REQUEST:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if data.endswith(b"\n"):
            break
    return data


def check_request(root: str, request: object) -> str | None:
    """What is wrong with a request, or None (pure, but for resolving the directory's path)."""
    if not isinstance(request, dict):
        return "a request is a JSON object"
    directory = request.get("directory")
    if not isinstance(directory, str) or os.path.dirname(os.path.realpath(directory)) != os.path.realpath(root):
        return f"{directory!r} is not an attempt directory of {root}"
    env = request.get("env")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return "env must map names to strings"
    umask = request.get("umask")
    if umask is not None and not (isinstance(umask, int) and 0 <= umask <= 0o777):
        return f"umask {umask!r} is not a mode"
    return None


class Server:
    def __init__(self, root: str, run_attempt, idle: float):
        self.root = os.path.realpath(root)
        self.run_attempt = run_attempt
        self.idle = idle
        self.version = code_version()
        self.lock: int | None = None
        self.listener: socket.socket | None = None
        self.identity: tuple[int, int] | None = None  # (device, inode) of our socket file
        self.spare: tuple[int, int] | None = None  # (pid, write end of its pipe)

    def serve(self) -> int:
        self.lock = _take_lock(self.root)
        if self.lock is None:
            return 0  # another server holds the lock and serves
        try:
            self._listen()
            os.ftruncate(self.lock, 0)
            os.pwrite(self.lock, json.dumps({"pid": os.getpid(), "version": self.version}).encode(), 0)
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
            signal.signal(signal.SIGTERM, self._on_term)
            set_process_name(SERVER_NAME)
            log(f"serving {self.root}")
            self._spawn_spare()
            self._loop()
            return 0
        except SystemExit:
            log("SIGTERM: exiting")
            raise
        finally:
            self._close()

    def _on_term(self, signum, frame) -> None:
        raise SystemExit(0)  # out of any wait at once; serve() cleans up on the way out

    def _listen(self) -> None:
        with ShortPaths(self.root) as paths:
            address = paths.of(SOCKET)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)  # a stale socket: its server died (we hold the lock)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            previous = os.umask(0o077)  # no access for others from the start: no window for them
            try:
                listener.bind(address)
            finally:
                os.umask(previous)
            listener.listen(64)
            stat = os.stat(address)
        listener.setblocking(False)
        self.listener, self.identity = listener, (stat.st_dev, stat.st_ino)

    def _still_ours(self) -> bool:
        try:
            stat = os.stat(os.path.join(self.root, SOCKET))
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self.identity

    def _loop(self) -> None:
        last_request = time.monotonic()
        while True:
            left = self.idle - (time.monotonic() - last_request)
            if left <= 0:
                log(f"idle for {self.idle:g} s: exiting")
                return
            try:
                readable, _, _ = select.select([self.listener], [], [], min(left, CHECK_EVERY))
            except InterruptedError:
                continue
            if not readable:
                if not self._still_ours():
                    log("the socket file was removed or replaced: exiting")
                    return
                continue
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            last_request = time.monotonic()
            with conn:
                accepted = self._handle(conn)
            if accepted is _EXIT:
                return
            if accepted is not None:
                self._hand_over(accepted)
            if self.spare is None:
                with contextlib.suppress(OSError):  # tried again at the next request
                    self._spawn_spare()  # after the answer, for the next request

    def _handle(self, conn: socket.socket) -> bytes | object | None:
        """Answer one request: the request to hand over once accepted, _EXIT, or None."""
        conn.setblocking(True)
        conn.settimeout(REPLY_TIMEOUT)
        try:
            uid = _peer_uid(conn)
            if uid is not None and uid != os.getuid():
                self._reply(conn, {"error": "forbidden", "message": f"uid {uid} may not use this server"})
                return None
            data = _read_request(conn)
            try:
                request = json.loads(data)
            except ValueError as error:
                self._reply(conn, {"error": "bad_request", "message": f"not JSON: {error}"})
                return None
            if isinstance(request, dict) and request.get("version") != self.version:
                self._reply(conn, {"error": "version", "message": "the server runs other code than the client"})
                log("a client runs other code: exiting so that a new server starts")
                return _EXIT
            problem = check_request(self.root, request)
            if problem:
                self._reply(conn, {"error": "bad_request", "message": problem})
                return None
            # Answered before the hand-over: the runner, once woken, would take the CPU the answer waits for.
            self._reply(conn, {"accepted": True})
            return data
        except OSError as error:  # the client went away before the answer: it launches the runner itself
            log(f"request failed: {error}")
            return None

    @staticmethod
    def _reply(conn: socket.socket, answer: dict) -> None:
        conn.sendall((json.dumps(answer) + "\n").encode())

    # A spare child is forked ahead of each request and waits on a pipe: a
    # request costs a pipe write instead of a fork (milliseconds on a busy VM).

    def _hand_over(self, request: bytes) -> None:
        """Give an accepted request to the spare child, forking another if it is gone."""
        for _ in range(3):
            if self.spare is None:
                try:
                    self._spawn_spare()
                except OSError as error:  # out of processes or memory: a direct launch would fail too
                    log(f"cannot fork a runner: {error}")
                    break
            pid, pipe = self.spare
            self.spare = None
            try:
                _write_all(pipe, request)
                return
            except BrokenPipeError:
                log(f"the spare runner {pid} is gone (killed?): forking another")
            finally:
                os.close(pipe)
        # Not started: its sync reports it lost after the start grace (the scheduler may retry it).
        log(f"no runner could be given the request for {json.loads(request).get('directory')}")

    def _spawn_spare(self) -> None:
        sys.stderr.flush()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid:
            os.close(read_end)
            self.spare = (pid, write_end)
            return
        # The child: never returns into the server's code (its cleanup would remove the socket).
        code = 1
        try:
            os.close(write_end)
            self.listener.close()
            os.close(self.lock)
            os.setsid()  # a session of its own: signals to the server's group never reach it
            set_process_name(SPARE_NAME)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            request = _read_all(read_end)
            # Nothing: the server exited (or was killed) before a request came.
            code = self._become_runner(json.loads(request)) if request else 0
        except BaseException:  # noqa: B036 - whatever happens, the child ends here
            with contextlib.suppress(BaseException):
                traceback.print_exc()
        finally:
            with contextlib.suppress(BaseException):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _become_runner(self, request: dict) -> int:
        set_process_name(RUNNER_NAME)
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("umask") is not None:
            os.umask(request["umask"])
        directory = request["directory"]
        # The runner's own output goes where a directly launched runner's does.
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(os.path.join(directory, "output.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        return self.run_attempt(directory, "server")

    def _close(self) -> None:
        if self.spare is not None:
            os.close(self.spare[1])  # the spare reads end-of-file and exits
            self.spare = None
        if self.listener is not None:
            if self._still_ours():
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.root, SOCKET))
            self.listener.close()
        if self.lock is not None:
            os.close(self.lock)  # releases the lock: a new server may start


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def serve(root: str, run_attempt, idle: float = IDLE_EXIT) -> int:
    """Serve `root` until idle (or replaced); `run_attempt(directory, "server") -> exit code` is what a
    child runs (local_runner.run_attempt: this module does not import the runner)."""
    os.makedirs(root, exist_ok=True)
    return Server(root, run_attempt, idle).serve()
