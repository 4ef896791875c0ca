"""The volumes of a simulated pod, as a kubelet would mount them for its first container.

The container's filesystem is stood for by the pod's directory `<pod dir>/rootfs/`.
Two kinds of volume are simulated:

- `downwardAPI`: each item's `fieldRef` (`metadata.name`, `metadata.namespace`,
  `metadata.uid`, `metadata.labels['k']`, `metadata.annotations['k']`, and
  `metadata.labels` / `metadata.annotations` whole as sorted `k="v"` lines) is
  written to `<item.path>` in the volume, with the item's `mode` (else the
  volume's `defaultMode`, else 0644);
- `emptyDir`: an empty directory.

A volume's files live in `<pod dir>/volumes/<volume name>/`; each mount of it
is a symbolic link `<pod dir>/rootfs/<mountPath>` to that directory (or to its
`subPath`), so two mounts of one volume share their files. Other kinds
(configMap, secret, persistentVolumeClaim, projected, hostPath, ...) are
recorded (`Volumes.mounts`, with no host directory) but not mounted.

The command does not run in a chroot: the mount paths found in its env values,
command and args are rewritten to the rootfs paths (`Volumes.rewrite`), as the
termination message path is.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from ...backends.container import kube_expand as expand
from .validation import DOWNWARD_VOLUME_FIELDS

SIMULATED = ("downwardAPI", "emptyDir")
DEFAULT_MODE = 0o644
_SUBSCRIPT = re.compile(r"^(metadata\.(?:labels|annotations))\['([^']*)'\]$")
# A mount path is rewritten only where it stands as a path of its own: not inside
# another path or word (`/opt/data`, `$(pwd)/data`) nor followed by more of a name (`/data.csv`).
_BEFORE = r"(?<![\w.~/$)}-])"
_AFTER = r"(?![\w.~-])"
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               "\\": "\\\\", '"': '\\"'}


def volume_kind(volume: dict) -> str:
    """The volume's source (`downwardAPI`, `emptyDir`, `secret`, ...); none given is an emptyDir, as defaulted."""
    for key in volume:
        if key != "name":
            return key
    return "emptyDir"


def go_quote(text: str) -> str:
    """Go's `%q` of a string, as the kubelet quotes label and annotation values."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def format_map(mapping: dict) -> str:
    """Labels or annotations as a downwardAPI file: `key="value"` lines sorted by key, no final newline."""
    return "\n".join(f"{key}={go_quote(str(mapping[key]))}" for key in sorted(mapping))


def downward_value(pod: dict, field_path: str) -> str | None:
    """The content of a downwardAPI volume file for `field_path`; None for a path it does not support."""
    metadata = pod.get("metadata") or {}
    match = _SUBSCRIPT.match(field_path)
    if match:
        return str((metadata.get(match.group(1).split(".")[1]) or {}).get(match.group(2), ""))
    if field_path in ("metadata.labels", "metadata.annotations"):
        return format_map(metadata.get(field_path.split(".")[1]) or {})
    if field_path in DOWNWARD_VOLUME_FIELDS:
        return str(metadata.get(field_path.split(".")[1]) or "")
    return None


def _absolute(path: object) -> str:
    """A mountPath normalised: absolute, no `.`, `..` or doubled slashes (`..` cannot climb above /)."""
    return posixpath.normpath("/" + str(path or "").lstrip("/"))


def _relative(path: str) -> str | None:
    """`path` normalised when it stays inside its directory (relative, no leading `..`); else None."""
    if not path or path.startswith("/"):
        return None
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return None
    return normal


@dataclass
class Mount:
    path: str  # the container's mountPath, normalised
    volume: str  # the volume's name
    kind: str  # downwardAPI, emptyDir, secret, ...
    host: str | None  # what stands for it here (<pod dir>/rootfs/<path>); None: not simulated


class Volumes:
    """Materialises the volumes mounted by `container` in the pod directory `directory`.

    `variables` are the container's environment variables as the container sees
    them (for `subPathExpr`); `message` is (terminationMessagePath, the file
    standing for it), rewritten by `rewrite(text, message=True)`.
    """

    def __init__(self, pod: dict, container: dict, directory: str, variables: dict[str, str],
                 message: tuple[str, str] | None = None):

        self.message = message
        self.rootfs = os.path.join(directory, "rootfs")
        self.volumes_dir = os.path.join(directory, "volumes")
        self.mounts: list[Mount] = []
        os.makedirs(self.rootfs, exist_ok=True)
        volumes = {v.get("name"): v for v in (pod["spec"].get("volumes") or []) if isinstance(v, dict)}
        made: dict[str, str] = {}  # volume name -> its directory
        mounts = sorted(container.get("volumeMounts") or [], key=lambda m: _absolute(m.get("mountPath")).count("/"))
        for mount in mounts:
            name = mount.get("name", "")
            volume = volumes.get(name) or {}
            kind = volume_kind(volume)
            path = _absolute(mount.get("mountPath"))
            record = Mount(path, name, kind, None)
            self.mounts.append(record)
            if kind not in SIMULATED or path == "/":
                continue
            if name not in made:
                made[name] = self._make(pod, name, kind, volume.get(kind) or {})
            target = made[name]
            sub_path = mount.get("subPath") or ""
            if mount.get("subPathExpr"):
                sub_path = expand(str(mount["subPathExpr"]), variables)
            if sub_path:
                relative = _relative(sub_path)
                if relative is None:
                    continue
                target = os.path.join(target, relative)
                if kind == "emptyDir":
                    os.makedirs(target, exist_ok=True)  # as the kubelet creates a missing subPath
            host = os.path.join(self.rootfs, path.lstrip("/"))
            os.makedirs(os.path.dirname(host), exist_ok=True)
            if os.path.lexists(host):
                try:
                    os.rmdir(host)  # an empty mount point made for another mount; anything else stays
                except OSError:
                    continue
            os.symlink(target, host)
            record.host = host
        paths = sorted((m.path for m in self.mounts if m.host), key=len, reverse=True)
        mounted = f"{_BEFORE}(?P<mount>{'|'.join(map(re.escape, paths))}){_AFTER}" if paths else None
        self._pattern = re.compile(mounted) if mounted else None
        # The message path is replaced wherever it appears (as before volumes were simulated), and first.
        alternatives = ([f"(?P<message>{re.escape(message[0])})"] if message else []) + ([mounted] if mounted else [])
        self._message_pattern = re.compile("|".join(alternatives)) if alternatives else None

    def _make(self, pod: dict, name: str, kind: str, source: dict) -> str:
        directory = os.path.join(self.volumes_dir, name)
        os.makedirs(directory, exist_ok=True)
        if kind == "downwardAPI":
            default_mode = source.get("defaultMode")
            for item in source.get("items") or []:
                relative = _relative(str(item.get("path", "")))
                field_ref = item.get("fieldRef") or {}
                value = downward_value(pod, str(field_ref.get("fieldPath", ""))) if field_ref else None
                if relative is None or value is None:
                    continue  # refused by validation; resourceFieldRef is not simulated
                file = os.path.join(directory, relative)
                os.makedirs(os.path.dirname(file), exist_ok=True)
                with open(file, "w", encoding="utf-8", newline="") as handle:
                    handle.write(value)
                mode = item.get("mode")
                os.chmod(file, mode if mode is not None else default_mode if default_mode is not None
                         else DEFAULT_MODE)
        return directory

    def rewrite(self, text: str, message: bool = False) -> str:
        """`text` with every mounted path in it pointing into the pod's rootfs, in one pass (a path
        rewritten is not rewritten again); with `message`, also the terminationMessagePath, anywhere."""
        pattern = self._message_pattern if message else self._pattern
        if pattern is None:
            return text

        def replace(match: re.Match) -> str:
            if match.lastgroup == "message":
                return self.message[1]
            return self.rootfs + match.group(0)

        return pattern.sub(replace, text)
