"""Keeping the logs of finished pods (docs/kubernetes.md, "Sync, stop, logs"), and reading
timestamped logs from a point on (the metrics an op prints, docs/metrics.md).

A pod's log lives as long as the pod, and finished pods are deleted after
`POD_TTL`: when an attempt (or a build) ends, its log is copied once to
`<POLYFLOW HOME>/logs/<pod>.log`, which `logs` falls back to once the pod is
gone. Files are written whole (a temporary file renamed), so a reader never
sees half a log, and two schedulers archiving the same pod write the same text.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..conf import polyflow_settings
from ..rfc3339 import nanoseconds as parse_time
from .builds import CONTAINER as BUILD_CONTAINER
from .kube_client import ApiError, KubeClient
from .kube_pods import valid_name
from .manifests import CONTAINER

logger = logging.getLogger("polyflow.backends.kubernetes")


class LogArchive:
    def __init__(self, client: KubeClient, directory: str | os.PathLike | None = None):
        self.client = client
        self._directory = Path(directory) if directory is not None else None

    @property
    def directory(self) -> Path:
        # Read from the settings when used, not when made: HOME may be set later (tests, CLI).
        return self._directory if self._directory is not None else Path(polyflow_settings.HOME) / "logs"

    def path(self, key: str) -> Path:
        if not valid_name(key):
            raise ValueError(f"{key!r} is not a pod name: no archive path for it")
        return self.directory / f"{key}.log"

    def archived(self, key: str) -> str | None:
        """The archived log of a pod, None when there is none."""
        if not valid_name(key):
            return None
        try:
            return self.path(key).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def archive(self, name: str, container: str = CONTAINER, before: tuple[str, ...] = (),
                after: tuple[str, ...] = ()) -> None:
        """Keep a finished pod's log (once), so it survives the pod; one log read per container.
        `before` and `after` are containers whose logs frame the main one's in the op's log (the
        artifact download and upload, with their progress lines)."""
        if not valid_name(name) or self.path(name).exists():
            return
        parts = []
        for each in (*before, container, *after):
            try:
                parts.append(self.client.read_log(name, each))
            except ApiError as error:
                if each != container and error.status == 400:  # never started: nothing to say
                    continue
                logger.warning("cannot archive the log of %s yet: %s", name, error)
                return
        self.write(self.path(name), "".join(part if part.endswith("\n") or not part else part + "\n"
                                            for part in parts[:-1]) + (parts[-1] if parts else ""))

    def archive_build_failure(self, key: str, build) -> None:
        """An op failed by its image build: its own log is the build's, under a header saying so."""
        if not valid_name(key) or self.path(key).exists():
            return
        text = self.archived(build.pod)
        if text is None:
            try:
                text = self.client.read_log(build.pod, BUILD_CONTAINER)
            except ApiError:
                text = ""
        header = f"polyflow: the image build of {build.image} failed (pod {build.pod}); its log follows\n"
        self.write(self.path(key), header + text)

    def write(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as error:
            logger.warning("cannot write the log archive %s: %s", path, error)


def timestamped_lines(data: bytes, after: int | None, cut: bool) -> tuple[list[str], str | None]:
    """The lines of a log read with `timestamps=true`, without their times, that were written
    after `after` (ns; None: all), and the time text of the last of them (None: no line).

    `cut`: the answer stopped at `limitBytes`, so a last line without its newline is only
    part of one and is left for the next read; otherwise the log was read to its end and
    that line is whole (a container that ended without a newline). Lines that carry no
    time (none should) are skipped.
    """
    lines = data.decode("utf-8", "replace").split("\n")
    last_part = lines.pop()
    if last_part and not cut:
        lines.append(last_part)
    kept: list[str] = []
    last = None
    for line in lines:
        stamp, _, text = line.partition(" ")
        moment = parse_time(stamp)
        if moment is None or (after is not None and moment <= after):
            continue
        kept.append(text.rstrip("\r"))
        last = stamp
    return kept, last
