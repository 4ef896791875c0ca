"""A container's log as a kubelet keeps it: one record per line, with the time it was written.

The file is in the CRI logging format (what containerd writes under /var/log/pods):
`<RFC 3339 time, nanoseconds> <stream> <P|F> <content>` per line, `F` for a full line
(the newline is not stored), `P` for a part: a line cut at 16 KiB, or a last line
without a newline when the output closed. The log endpoint renders records back
into the container's text, each prefixed with its time and a space when asked for
`timestamps`, and selects them by time (`sinceSeconds`, `sinceTime`), as the real
API server does. Times are strictly increasing within a log, so a reader that
remembers the last time it saw loses and repeats nothing.

A command's stdout and stderr go to a pipe (`attach`) read by a thread that writes
the records as lines come; the runtime `drain`s it when the container ends, so a
log read after the end holds everything the command printed.
"""

from __future__ import annotations

import os
import threading
import time

from ...rfc3339 import nanoseconds as parse_time
from ...rfc3339 import rfc3339_nano

PART = 16 * 1024  # containerd's longest record: longer lines are cut into parts
_DRAIN_TIMEOUT = 2.0


class ContainerLog:
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._last = 0  # the time of the last record, ns
        self._pump: threading.Thread | None = None
        open(path, "wb").close()

    # -- writing -------------------------------------------------------------------

    def _stamp(self) -> int:
        self._last = max(time.time_ns(), self._last + 1)
        return self._last

    def _append(self, parts: list[tuple[bytes, bool]], stream: str = "stdout") -> None:
        if not parts:
            return
        with self._lock:
            data = b"".join(f"{rfc3339_nano(self._stamp())} {stream} {'F' if full else 'P'} ".encode() + content
                            + b"\n" for content, full in parts)
            try:
                with open(self.path, "ab") as handle:
                    handle.write(data)
            except OSError:  # the simulator's directory is being removed (it stops)
                pass

    def write(self, data: bytes | str, stream: str = "stdout") -> None:
        """What the simulator itself prints in the container's name (a scripted outcome's log)."""
        if isinstance(data, str):
            data = data.encode()
        lines = data.split(b"\n")
        parts = [(line, True) for line in lines[:-1]]
        if lines[-1]:
            parts.append((lines[-1], False))
        self._append(_cut(parts))

    def attach(self) -> int:
        """A pipe's write end for a command's stdout and stderr (the caller closes it once the
        command has it); a thread records what comes through, line by line."""
        read_end, write_end = os.pipe()
        self._pump = threading.Thread(target=self._read, args=(read_end,), daemon=True,
                                      name=f"log {os.path.basename(self.path)}")
        self._pump.start()
        return write_end

    def _read(self, fd: int) -> None:
        pending = b""
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    if pending:
                        self._append([(pending, False)])
                    return
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                parts = [(line, True) for line in lines]
                while len(pending) >= PART:
                    parts.append((pending[:PART], False))
                    pending = pending[PART:]
                self._append(_cut(parts))
        finally:
            os.close(fd)

    def drain(self, timeout: float = _DRAIN_TIMEOUT) -> None:
        """Wait until what the command printed is recorded (its output closed); bounded, in case
        something it started keeps the pipe open."""
        pump = self._pump
        if pump is not None:
            pump.join(timeout)

    # -- reading -------------------------------------------------------------------

    def records(self, position: int = 0) -> tuple[list[tuple[str, int, bytes, bool]], int]:
        """The whole records from byte `position` of the file: (time text, time ns, content, full),
        and the position after them."""
        with open(self.path, "rb") as handle:
            handle.seek(position)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a record being written is left for later
        records = []
        for line in data[:end].split(b"\n")[:-1]:
            stamp, _stream, tag, content = line.split(b" ", 3)
            text = stamp.decode()
            records.append((text, parse_time(text) or 0, content, tag == b"F"))
        return records, position + end

    def text(self, *, timestamps: bool = False, since: int | None = None, tail: int | None = None) -> bytes:
        """The container's output: the last `tail` records, those written at or after `since` (ns)."""
        records = self.records()[0]
        if tail is not None:
            records = records[-tail:] if tail else []
        return render(records, timestamps, since)


def render(records, timestamps: bool, since: int | None = None) -> bytes:
    """Records as the API server sends them: with `timestamps`, a line's time (its first
    part's) and a space before it, as a kubelet writes them; only records written at or
    after `since` (ns)."""
    out = []
    new_line = True
    for text, ns, content, full in records:
        if since is not None and ns < since:
            continue
        if timestamps and new_line:
            out.append(f"{text} ".encode())
        out.append(content + b"\n" if full else content)
        new_line = full
    return b"".join(out)


def _cut(parts: list[tuple[bytes, bool]]) -> list[tuple[bytes, bool]]:
    """Lines longer than PART as parts of at most PART bytes, the last one keeping the line's end."""
    cut = []
    for content, full in parts:
        while len(content) > PART:
            cut.append((content[:PART], False))
            content = content[PART:]
        cut.append((content, full))
    return cut
