"""The volumes of a simulated pod, as a kubelet would mount them for its first container.

The container's filesystem is stood for by a directory of the pod's, `<pod dir>/rootfs/` for
its first container (`rootfs-<name>/` for the others). These kinds of volume are simulated:

- `downwardAPI`: each item's `fieldRef` (`metadata.name`, `metadata.namespace`,
  `metadata.uid`, `metadata.labels['k']`, `metadata.annotations['k']`, and
  `metadata.labels` / `metadata.annotations` whole as sorted `k="v"` lines) is
  written to `<item.path>` in the volume, with the item's `mode` (else the
  volume's `defaultMode`, else 0644);
- `emptyDir`: an empty directory, shared by the pod's containers;
- `configMap`, `secret`: the object's keys (a Secret's decoded) as files, or its `items`
  (`key`, `path`, `mode`), with `defaultMode`; an `optional` one that does not exist is an
  empty directory, one that is not raises ConfigError;
- `persistentVolumeClaim`: the claim's directory in the simulator (`<workdir>/claims/<ns>/<name>/`),
  shared by every pod that mounts it, for as long as the claim exists;
- `hostPath`: the path on this machine itself (`DirectoryOrCreate` makes it).

A volume's files live in `<pod dir>/volumes/<volume name>/` (a claim's and a hostPath's where
they are); each mount of it is a symbolic link `<rootfs>/<mountPath>` to that directory (or to
its `subPath`), so two mounts of one volume share their files. Other kinds (projected, nfs,
csi, ...) are recorded (`Volumes.mounts`, with no host directory) but not mounted.

The command does not run in a chroot: the mount paths found in its env values,
command and args are rewritten to the rootfs paths (`Volumes.rewrite`), as the
termination message path is.
"""

from __future__ import annotations

import base64
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from ...backends.container import kube_expand as expand
from .validation import DOWNWARD_VOLUME_FIELDS

SIMULATED = ("downwardAPI", "emptyDir", "configMap", "secret", "persistentVolumeClaim", "hostPath")


class ConfigError(Exception):
    """A container names a ConfigMap, Secret or key that does not exist (CreateContainerConfigError)."""


def claims_of(pod: dict) -> list[str]:
    """The PersistentVolumeClaims a pod's volumes name."""
    return [str((volume.get("persistentVolumeClaim") or {}).get("claimName", ""))
            for volume in pod["spec"].get("volumes") or [] if isinstance(volume.get("persistentVolumeClaim"), dict)]


def decoded(kind: str, obj: dict) -> dict[str, str]:
    """A ConfigMap's data (and binaryData), or a Secret's data decoded, as text by key."""
    data: dict[str, str] = {}
    if kind == "secret":
        for key, value in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(value).decode("utf-8", errors="replace")
        return data
    data.update({key: str(value) for key, value in (obj.get("data") or {}).items()})
    for key, value in (obj.get("binaryData") or {}).items():
        data[key] = base64.b64decode(value).decode("utf-8", errors="replace")
    return data
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
                 message: tuple[str, str] | None = None, rootfs: str = "rootfs",
                 lookup: Callable[[str, str, bool], dict | None] | None = None,
                 claim_dir: Callable[[str, str], str] | None = None):

        self.message = message
        self.lookup = lookup  # (kind, name, optional) -> decoded data | None; raises ConfigError
        self.claim_dir = claim_dir  # (namespace, claim) -> its directory
        self.rootfs = os.path.join(directory, rootfs)
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
            if kind not in SIMULATED or path == "/" or (kind in ("configMap", "secret") and self.lookup is None) \
                    or (kind == "persistentVolumeClaim" and self.claim_dir is None):
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
                if kind in ("emptyDir", "persistentVolumeClaim", "hostPath") and not os.path.exists(target):
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
        if kind == "persistentVolumeClaim":
            directory = self.claim_dir(pod["metadata"].get("namespace", ""), str(source.get("claimName", "")))
            os.makedirs(directory, exist_ok=True)
            return directory
        if kind == "hostPath":
            directory = str(source.get("path", ""))
            if source.get("type") == "DirectoryOrCreate":
                os.makedirs(directory, exist_ok=True)
            return directory
        directory = os.path.join(self.volumes_dir, name)
        os.makedirs(directory, exist_ok=True)
        if kind in ("configMap", "secret"):
            self._write_keys(directory, kind, source)
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

    def _write_keys(self, directory: str, kind: str, source: dict) -> None:
        name = source.get("name") if kind == "configMap" else source.get("secretName")
        data = self.lookup(kind, str(name or ""), bool(source.get("optional")))
        if data is None:
            return  # optional and absent: an empty volume
        default_mode = source.get("defaultMode")
        items = source.get("items")
        if items is None:
            items = [{"key": key, "path": key} for key in sorted(data)]
        for item in items:
            key = str(item.get("key", ""))
            if key not in data:
                if source.get("optional"):
                    continue
                raise ConfigError(f"configmap references non-existent config key: {key}" if kind == "configMap"
                                  else f"references non-existent secret key: {key}")
            relative = _relative(str(item.get("path", "")))
            if relative is None:
                continue
            file = os.path.join(directory, relative)
            os.makedirs(os.path.dirname(file), exist_ok=True)
            if os.path.exists(file):
                continue  # made for another container of the pod
            with open(file, "w", encoding="utf-8", newline="") as handle:
                handle.write(data[key])
            mode = item.get("mode")
            os.chmod(file, mode if mode is not None else default_mode if default_mode is not None else DEFAULT_MODE)

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
