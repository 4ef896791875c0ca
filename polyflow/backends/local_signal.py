"""Completion signals of the local backend: runners tell listening schedulers.

A scheduler that wants to know at once when an attempt starts or ends binds a
Unix datagram socket in `<runs directory>/.listeners/<pid>-<random>.sock`
(`Listener`); a runner that has recorded `process.json` or `result.json`
sends `started <key>` or `ended <key>` to every socket there (`notify`).
Sending never blocks and never fails the runner: a full queue or a vanished
listener only costs that listener the hint, and the scheduler's periodic tick
is the safety net. Sockets left by dead processes are removed by the next
runner that finds them.

Standard library only, like local_runner.py, which imports it by file path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket

LISTENERS = ".listeners"
STARTED, ENDED = "started", "ended"
# sun_path holds 108 bytes with its NUL; longer paths go through /proc/self/fd.
_SUN_PATH = 107
_MAX_DATAGRAM = 4096  # keys are DNS-1123 labels (63 characters), this leaves room


class ShortPaths:
    """AF_UNIX addresses of entries of one directory, however long its path.

    The kernel refuses socket paths over 107 bytes (pytest's temporary
    directories reach that); an open descriptor of the directory gives the
    short alias /proc/self/fd/<n>/<name>, which bind, connect and sendto
    resolve to the same file (Linux).
    """

    def __init__(self, directory: str):
        self.directory = directory
        self._fd: int | None = None

    def of(self, name: str) -> str:
        path = os.path.join(self.directory, name)
        if len(os.fsencode(path)) <= _SUN_PATH:
            return path
        if self._fd is None:
            self._fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._fd}/{name}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ShortPaths:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _owner_gone(name: str) -> bool:
    """Whether the process named by a listener's file name (`<pid>-...`) no longer exists."""
    pid = name.partition("-")[0]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def notify(root: str, key: str, event: str) -> None:
    """Send `<event> <key>` to every listener of the runs directory `root`; never raises."""
    directory = os.path.join(root, LISTENERS)
    try:
        names = [name for name in os.listdir(directory) if name.endswith(".sock")]
    except OSError:
        return  # nobody ever listened here
    if not names:
        return
    data = f"{event} {key}".encode()
    try:
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError:
        return
    with sender, ShortPaths(directory) as paths:
        sender.setblocking(False)
        for name in names:
            try:
                sender.sendto(data, paths.of(name))
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody bound there any more: a listener that died without cleaning up.
                if _owner_gone(name):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(directory, name))
            except OSError:
                pass  # its queue is full (it is busy ticking anyway) or the path went away


def parse(datagram: bytes) -> tuple[str, str]:
    """(event, key) of a signal; anything unexpected counts as an end (the safe reading: tick)."""
    event, _, key = datagram.decode("utf-8", "replace").partition(" ")
    return (event, key) if event in (STARTED, ENDED) and key else (ENDED, key or event)


class Listener:
    """One process's socket in `<root>/.listeners`: the signals runners sent since the last `wait`.

    Created on the first `wait`, kept between calls (the socket queues what
    arrives meanwhile), removed by `close`. A forked child does not share its
    parent's listener: it makes its own on its first `wait`.
    """

    def __init__(self, root: str):
        self.root = root
        self.path: str | None = None
        self._socket: socket.socket | None = None
        self._owner: int | None = None

    def open(self) -> None:
        if self._owner == os.getpid():
            return
        if self._socket is not None:
            self._socket.close()  # a parent's, inherited through fork: its file stays the parent's
            self._socket = None
        directory = os.path.join(self.root, LISTENERS)
        os.makedirs(directory, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(8)}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with ShortPaths(directory) as paths:
                listener.bind(paths.of(name))
        except OSError as error:
            listener.close()
            raise OSError(f"cannot listen for runners in {directory}: {error}") from error
        listener.setblocking(False)
        self._socket, self.path, self._owner = listener, os.path.join(directory, name), os.getpid()

    def wait(self, timeout: float) -> list[tuple[str, str]]:
        """The (event, key) signals received within `timeout` seconds: all that queued up, in order."""
        self.open()
        assert self._socket is not None
        readable, _, _ = select.select([self._socket], [], [], max(timeout, 0.0))
        if not readable:
            return []
        signals = []
        while True:
            try:
                signals.append(parse(self._socket.recv(_MAX_DATAGRAM)))
            except BlockingIOError:
                break
        return signals

    def close(self) -> None:
        if self._owner != os.getpid() or self._socket is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._socket.close()
        self._socket, self.path, self._owner = None, None, None
