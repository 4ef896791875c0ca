"""What a kubelet would do with a pod: one thread per pod moves it through
Pending, Running and Succeeded or Failed, runs its containers' commands as
local processes (or simulates the run), and carries out deletions,
evictions, OOM kills and deadlines.

When the first container's command is run, the init containers run first, one
after the other (a failure fails the pod), then every container with a command
runs at once, each in its own process group and its own `rootfs` directory;
the pod ends when they all have. A container without a command is reported
running alongside them and ends with the pod. When the first container is
simulated (no command, no executable here, an outcome rule, `execute=False`)
its other containers are too; its init containers still run, unless the run is
scripted (an outcome rule) or nothing is executed (`execute=False`). Volumes
are made in the pod's directory (`volumes.py`); `env` from ConfigMaps and
Secrets is read from the simulator's store.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import traceback
from typing import TYPE_CHECKING

from ...backends.container import kube_expand as expand
from .errors import now
from .logs import ContainerLog
from .volumes import ConfigError, Volumes, claims_of, decoded

if TYPE_CHECKING:
    from .faults import Fault
    from .simulator import KubeSimulator

MESSAGE_LIMIT = 4096  # bytes of a termination message, as in Kubernetes
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # FallbackToLogsOnError
DEFAULT_MESSAGE_PATH = "/dev/termination-log"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
EVICTED_MESSAGE = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 12Mi."
NODE_NAME = "kube-simulator"
HOST_IP = "10.0.0.1"
_FIELD_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def _signal_exit(returncode: int) -> int:
    """The exit code a container runtime reports: 128 + signal for a killed process."""
    return 128 - returncode if returncode < 0 else returncode


class PodRuntime:
    """The simulated kubelet of one pod. Every change of the pod goes through the simulator's lock."""

    def __init__(self, sim: KubeSimulator, namespace: str, name: str, pod: dict, directory: str,
                 outcome: Fault | None):
        self.sim = sim
        self.namespace, self.name = namespace, name
        self.pod = pod  # the stored object; changed only under sim.lock
        self.directory = directory
        self.outcome = outcome
        spec = pod["spec"]
        os.makedirs(directory, exist_ok=True)
        self.inits = [ContainerRun(c, directory, True) for c in spec.get("initContainers") or []]
        self.runs = [ContainerRun(c, directory, index > 0) for index, c in enumerate(spec["containers"])]
        self.containers = [run.name for run in self.runs]
        self.init_containers = [run.name for run in self.inits]
        self.first = spec["containers"][0]
        # Each container's log, with the time of every line (logs.py): what the log endpoint reads.
        self.logs = {run.name: run.log for run in self.inits + self.runs}
        self.message_file = self.runs[0].message_file
        self.removed = False  # deleted from the store
        self.done = False  # the lifecycle thread is over
        self.started = False  # the container was started (its log exists)
        self.actions: list[tuple] = []
        self.wakeup = threading.Event()
        self.watching: list[ContainerRun] = []  # the containers whose processes run now
        self.start_clock: float | None = None
        self.thread = threading.Thread(target=self._main, name=f"pod {namespace}/{name}", daemon=True)
        self.container_id = "containerd://" + hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest()
        for run in self.inits + self.runs:
            open(run.message_file, "wb").close()

    @property
    def process(self) -> subprocess.Popen | None:
        """The first container's process."""
        return self.runs[0].process

    @property
    def volumes(self) -> Volumes | None:
        """The first container's volumes (made when its command is run)."""
        return self.runs[0].volumes

    # -- called by the simulator (under its lock) ---------------------------

    def post(self, *action) -> None:
        """Ask the pod's thread to do `action`: ("delete", grace), ("evict", message), ("oom",), ("kill",)."""
        self.actions.append(action)
        self.wakeup.set()

    def kill(self) -> None:
        """SIGKILL the container's process group now (the simulator stops)."""
        self._kill_group(signal.SIGKILL)

    @property
    def terminal(self) -> bool:
        return self.pod["status"].get("phase") in ("Succeeded", "Failed")

    # -- the thread -----------------------------------------------------------

    def _main(self) -> None:
        try:
            self._lifecycle()
        except Exception:  # noqa: BLE001 - a bug here must not leave the pod hanging silently
            traceback.print_exc()
            self._kill_group(signal.SIGKILL)
            with self.sim.lock:
                if not self.terminal:
                    self._terminate(1, "Error", "kube-simulator: internal error; see its stderr", pod_reason=None)
        finally:
            self._kill_group(signal.SIGKILL)
            self._wrap_up()

    def _wrap_up(self) -> None:
        """Actions that came after the end (a delete of the finished pod) are done here; then done."""
        while True:
            with self.sim.lock:
                if not self.actions:
                    self.done = True
                    return
                action = self.actions.pop(0)
                if action[0] in ("delete", "kill"):
                    self.sim._remove(self)

    def _next_action(self, until: float | None) -> tuple | None:
        """Wait for an action, the end of the process, or `until` (monotonic); None when time is up."""
        while True:
            self.wakeup.clear()
            with self.sim.lock:
                if self.actions:
                    return self.actions.pop(0)
            for run in self.watching:
                if run.process is not None and run.terminated is None and run.process.poll() is not None:
                    return ("exited", run)
            if self.sim.stopping:
                return ("kill",)
            timeout = None if until is None else until - time.monotonic()
            if timeout is not None and timeout <= 0:
                return None
            self.wakeup.wait(timeout)

    def _lifecycle(self) -> None:
        result = self.outcome.result if self.outcome else None
        # Pending, not scheduled yet.
        action = self._next_action(time.monotonic() + self.sim.pending_time)
        if action is not None and self._before_start(action):
            return
        if result == "pending":
            with self.sim.lock:
                self._unschedulable()
            while True:
                action = self._next_action(None)
                if self._before_start(action):
                    return
        if self._wait_for_claims():
            return
        with self.sim.lock:
            self._schedule()
            if self.removed:  # deleted meanwhile
                return
        self.start_clock = time.monotonic()
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        deadline_at = self.start_clock + deadline if deadline else None

        try:
            plan = self._plan()
        except ConfigError as error:
            self._config_error(str(error))
            return
        executed = plan[0] == "run"
        # Init containers run whenever commands do (also before a first container whose
        # executable is missing here, such as kaniko's); not for a scripted or simulated pod.
        if self.outcome is None and self.sim.execute and self.inits:
            if self._run_inits(deadline_at):
                return
        elif self.inits:
            with self.sim.lock:
                for run in self.inits:  # simulated with the pod: done at once
                    run.log.write(f"kube-simulator: init container '{run.name}' is not run (the pod's run is "
                                  f"simulated)\n")
                    run.terminated = self._ended(run, 0, "Completed", "")
        if plan[0] == "start_error":
            with self.sim.lock:
                self._terminate(128, "StartError", plan[1], pod_reason=None, started=False)
            return
        ends_at = None
        if executed:
            others = []
            for run in self.runs[1:]:
                try:
                    other = self._plan_of(run)
                except ConfigError as error:
                    self._config_error(str(error))
                    return
                if other[0] == "run":
                    others.append((run, other))
                elif other[0] == "start_error":
                    with self.sim.lock:
                        run.terminated = self._ended(run, 128, "StartError", other[1], started=False)
                        self._terminate(128, "StartError", "", pod_reason=None, started=False)
                    return
                else:
                    run.log.write(other[2])
            for run, (_, argv, env, cwd) in [(self.runs[0], plan), *others]:
                error = self._start(run, argv, env, cwd)
                if error is not None:
                    self._kill_group(signal.SIGKILL)
                    with self.sim.lock:
                        self._terminate(128, "StartError", error, pod_reason=None, started=False)
                    return
        else:
            for name in self.containers[1:]:
                self.logs[name].write(f"kube-simulator: container '{name}' is not run (the pod's run is "
                                      f"simulated)\n")
            duration = plan[1]
            ends_at = None if duration is None else self.start_clock + duration
            self._write_log(plan[2])
        with self.sim.lock:
            self._run()

        # Running: wait for the end, the deadline or an action.
        while True:
            stops = [t for t in (ends_at, deadline_at) if t is not None]
            action = self._next_action(min(stops) if stops else None)
            if action is None:  # a time came
                if deadline_at is not None and time.monotonic() >= deadline_at and (
                        ends_at is None or deadline_at <= ends_at):
                    code = self._stop_process(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
                    with self.sim.lock:
                        self._terminate(code, "Error", "", pod_reason="DeadlineExceeded",
                                        pod_message=DEADLINE_MESSAGE)
                    return
                self._simulated_end(result)
                return
            kind = action[0]
            if kind == "exited":
                run = action[1]
                code = _signal_exit(run.process.returncode)
                run.kill(signal.SIGKILL)  # what it left running goes with the container
                run.log.drain()
                with self.sim.lock:
                    run.terminated = self._ended(run, code, "Completed" if code == 0 else "Error",
                                                 self._message(code, run))
                    if any(other.terminated is None for other in self.watching):
                        self.pod["status"]["containerStatuses"] = self._statuses(None, ready=False)
                        self.sim._commit(self, "MODIFIED")
                        continue
                    first = self.runs[0].terminated
                    self._terminate(first["exitCode"], first["reason"], first.get("message", ""))
                return
            if kind == "delete":
                code = self._stop_process(action[1])
                with self.sim.lock:
                    self._terminate(code, "Completed" if code == 0 else "Error", self._message(code))
                    self.sim._remove(self)
                return
            if kind == "kill":
                self._kill_group(signal.SIGKILL)
                return
            if kind == "evict":
                self._kill_group(signal.SIGKILL)
                self._drain()
                with self.sim.lock:
                    self._terminate(137, "Error", "", pod_reason="Evicted", pod_message=action[1] or EVICTED_MESSAGE,
                                    disruption=True)
                return
            if kind == "oom":
                self._kill_group(signal.SIGKILL)
                self._drain()
                with self.sim.lock:
                    self._terminate(137, "OOMKilled", self._read_message())
                return

    def _start(self, run: ContainerRun, argv: list[str], env: dict[str, str], cwd: str) -> str | None:
        """Start a container's process; the StartError message when it cannot be started."""
        output = run.log.attach()
        try:
            run.process = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        except OSError as error:
            os.close(output)
            return f"failed to start container process: {error}"
        os.close(output)  # the command has it: the log ends when the command's group closes it
        self.watching.append(run)
        threading.Thread(target=self._reap, args=(run.process,), daemon=True, name=f"wait {self.name}").start()
        return None

    def _run_inits(self, deadline_at: float | None) -> bool:
        """Run the init containers in order; True when the pod is over (one failed, a delete came)."""
        for run in self.inits:
            try:
                plan = self._plan_of(run)
            except ConfigError as error:
                self._config_error(str(error), init=run)
                return True
            with self.sim.lock:
                if self.removed:
                    return True
                run.state = {"running": {"startedAt": now()}}
                self._init_statuses()
                self.sim._commit(self, "MODIFIED")
            if plan[0] == "start_error":
                with self.sim.lock:
                    run.terminated = self._ended(run, 128, "StartError", plan[1], started=False)
                    self._terminate(128, "StartError", "", pod_reason=None, started=False, init_failed=True)
                return True
            if plan[0] == "simulate":
                run.log.write(plan[2])
                code = 0
            else:
                error = self._start(run, *plan[1:])
                if error is not None:
                    with self.sim.lock:
                        run.terminated = self._ended(run, 128, "StartError", error, started=False)
                        self._terminate(128, "StartError", "", pod_reason=None, started=False, init_failed=True)
                    return True
                action = self._next_action(deadline_at)
                if action is None or action[0] != "exited":
                    # A deadline, delete, eviction or OOM kill ends the pod during its init.
                    self._kill_group(signal.SIGKILL)
                    self.watching.remove(run)
                    run.log.drain()
                    if action is None:
                        with self.sim.lock:
                            run.terminated = self._ended(run, 137, "Error", "")
                            self._terminate(137, "Error", "", pod_reason="DeadlineExceeded",
                                            pod_message=DEADLINE_MESSAGE, init_failed=True)
                        return True
                    if not self._before_start(action):
                        with self.sim.lock:
                            self._terminate(137, "Error", "", init_failed=True)
                    return True
                code = _signal_exit(run.process.returncode)
                run.log.drain()
                self.watching.remove(run)
            with self.sim.lock:
                run.terminated = self._ended(run, code, "Completed" if code == 0 else "Error",
                                             self._message(code, run))
                if code != 0:
                    self._terminate(code, "Error", "", pod_reason=None, init_failed=True)
                    return True
                self._init_statuses()
                self.sim._commit(self, "MODIFIED")
        return False

    def _config_error(self, message: str, init: ContainerRun | None = None) -> None:
        """A container whose env or volumes name a ConfigMap, Secret or key that does not exist: it
        waits with CreateContainerConfigError (the pod stays Pending) until the pod is deleted."""
        with self.sim.lock:
            waiting = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
            if init is not None:
                init.state = waiting
                self._init_statuses()
            else:
                for run in self.runs:
                    run.state = waiting
                self.pod["status"]["containerStatuses"] = self._statuses(None, ready=False)
            self.sim._commit(self, "MODIFIED")
        while True:
            action = self._next_action(None)
            if self._before_start(action):
                return

    def _wait_for_claims(self) -> bool:
        """A pod whose PersistentVolumeClaims do not exist is not scheduled (Pending, Unschedulable)
        until they do, as with a real scheduler; True when the pod is over meanwhile."""
        said = None
        while True:
            missing = [name for name in claims_of(self.pod)
                       if self.sim.object("persistentVolumeClaim", self.namespace, name) is None]
            if not missing:
                return False
            message = f'persistentvolumeclaim "{missing[0]}" not found'
            if message != said:
                with self.sim.lock:
                    self.pod["status"]["conditions"] = [self._condition(
                        "PodScheduled", False, "Unschedulable", f"0/1 nodes are available: {message}.")]
                    self.sim._commit(self, "MODIFIED")
                said = message
            action = self._next_action(time.monotonic() + 0.05)
            if action is not None and self._before_start(action):
                return True

    def _before_start(self, action: tuple) -> bool:
        """Handle an action that came while the pod was not started; True when the pod is over."""
        kind = action[0]
        if kind in ("delete", "kill"):
            with self.sim.lock:
                self.sim._remove(self)
            return True
        if kind == "evict":
            with self.sim.lock:
                self._terminate(None, "", "", pod_reason="Evicted", pod_message=action[1] or EVICTED_MESSAGE,
                                started=False, disruption=True)
            return True
        if kind == "oom":
            with self.sim.lock:
                self._terminate(137, "OOMKilled", "", started=False)
            return True
        return False

    def _simulated_end(self, result: str | None) -> None:
        outcome = self.outcome
        message = (outcome.message if outcome else "") or ""
        with self.sim.lock:
            if result == "fail":
                code = outcome.exit_code if outcome.exit_code is not None else 1
                self._terminate(code, outcome.reason or ("Completed" if code == 0 else "Error"), message)
            elif result == "oom":
                self._terminate(137, "OOMKilled", message)
            elif result == "evict":
                self._terminate(137, "Error", "", pod_reason="Evicted", pod_message=message or EVICTED_MESSAGE,
                                disruption=True)
            elif result == "vanish":
                self.sim._remove(self)
            else:
                code = outcome.exit_code if outcome and outcome.exit_code is not None else 0
                reason = (outcome.reason if outcome else None) or ("Completed" if code == 0 else "Error")
                self._terminate(code, reason, message)

    # -- what to run ----------------------------------------------------------

    def _plan(self) -> tuple:
        """("run", argv, env, cwd) | ("simulate", duration or None, log) | ("start_error", message)."""
        sim, container, outcome = self.sim, self.first, self.outcome
        image = container.get("image", "")
        if outcome is not None:
            duration = outcome.duration if outcome.duration is not None else sim.run_time
            if outcome.result == "hang":
                duration = None
            if outcome.log is not None:
                log = outcome.log
            else:
                log = (f"kube-simulator: scripted outcome '{outcome.result}' for pod {self.name} "
                       f"(image '{image}'); the command was not run\n")
            return ("simulate", duration, log)
        if not sim.execute:
            return ("simulate", sim.run_time,
                    f"kube-simulator: simulated a successful run of image '{image}' (commands are not executed)\n")
        return self._plan_of(self.runs[0])

    def _plan_of(self, run: ContainerRun) -> tuple:
        """What to do with one container of a pod that is executed: run its command, simulate it
        (no command) or fail it (an executable missing, with missing_executable="fail").
        Raises ConfigError for env or volumes that name what does not exist."""
        sim, container = self.sim, run.spec
        image = container.get("image", "")
        if not container.get("command"):
            return ("simulate", sim.run_time,
                    f"kube-simulator: simulated a successful run of image '{image}': the container has no "
                    f"command (the image's entrypoint cannot run here)\n")
        argv, env, cwd = self._command(run)
        executable = argv[0]
        if os.sep in executable:
            found = os.path.isfile(executable) and os.access(executable, os.X_OK)
        else:
            found = shutil.which(executable, path=env.get("PATH")) is not None
        if not found:
            if sim.missing_executable == "fail":
                return ("start_error", f'failed to create containerd task: OCI runtime create failed: unable to '
                                       f'start container process: exec: "{executable}": stat {executable}: '
                                       f'no such file or directory: unknown')
            return ("simulate", sim.run_time,
                    f"kube-simulator: simulated a successful run of image '{image}': executable '{executable}' "
                    f"does not exist on this machine\n")
        return ("run", argv, env, cwd)

    def _field(self, path: str) -> str | None:
        pod = self.pod
        simple = {
            "metadata.name": pod["metadata"].get("name"),
            "metadata.namespace": pod["metadata"].get("namespace"),
            "metadata.uid": pod["metadata"].get("uid"),
            "spec.nodeName": pod["spec"].get("nodeName"),
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName"),
            "status.hostIP": HOST_IP,
            "status.podIP": self.sim._pod_ip(self),
            "status.podIPs": self.sim._pod_ip(self),
        }
        if path in simple:
            return simple[path]
        match = _FIELD_REF.match(path)
        if match:
            return (pod["metadata"].get(match.group(1)) or {}).get(match.group(2), "")
        return None

    def _command(self, run: ContainerRun) -> tuple[list[str], dict[str, str], str]:
        """The argv, environment and working directory of a container, mapped to this machine.

        The environment is the simulator's, plus HOSTNAME, a PATH whose first directory has
        `python` and `python3` standing for the simulator's own Python (the images' Python), and
        the container's `envFrom` (ConfigMaps and Secrets of the simulator's store, with their
        `prefix`), then its `env` (values, with `$(VAR)` expansion, `fieldRef`s,
        `configMapKeyRef`s and `secretKeyRef`s; `resourceFieldRef` is not available here). A
        ConfigMap, Secret or key that does not exist and is not `optional` raises ConfigError.
        The termination message path P becomes a file of the pod's directory:
        `$TERMINATION_LOG` names it, every env value equal to P and every P inside the command
        and args are replaced by it. The container's volumes are made in the pod's directory
        (`volumes.py`) and their mount paths in env values, command and args are rewritten to
        point into its rootfs. Expansion is done with the values the container would see,
        rewriting after it.
        """
        container = run.spec
        path = container.get("terminationMessagePath") or DEFAULT_MESSAGE_PATH
        defined: dict[str, str] = {}  # as the container sees them
        for source in container.get("envFrom") or []:
            kind = "configMap" if "configMapRef" in source else "secret"
            ref = source.get("configMapRef") or source.get("secretRef") or {}
            data = self._data(kind, ref.get("name", ""), bool(ref.get("optional")))
            for key, value in (data or {}).items():
                defined[str(source.get("prefix") or "") + key] = value
        for variable in container.get("env") or []:
            name = variable["name"]
            if "valueFrom" in variable:
                value_from = variable["valueFrom"] or {}
                field_ref = value_from.get("fieldRef")
                key_ref = value_from.get("configMapKeyRef") or value_from.get("secretKeyRef")
                if field_ref:
                    value = self._field(field_ref.get("fieldPath", ""))
                elif key_ref:
                    kind = "configMap" if "configMapKeyRef" in value_from else "secret"
                    value = self._key(kind, key_ref)
                else:
                    value = None
                if value is None:
                    continue  # resourceFieldRef: not available here; an optional key absent
            else:
                value = expand(str(variable.get("value", "")), defined)
            defined[name] = value
        defined.setdefault("TERMINATION_LOG", path)
        run.volumes = Volumes(self.pod, container, self.directory, defined, message=(path, run.message_file),
                              rootfs=run.rootfs_name, lookup=self._data, claim_dir=self.sim.claim_directory)
        env = dict(os.environ)
        env["PATH"] = self.sim.python_dir() + os.pathsep + env.get("PATH", "")
        env["HOSTNAME"] = self.name
        env.update({name: run.message_file if value == path else run.volumes.rewrite(value)
                    for name, value in defined.items()})
        argv = [
            run.volumes.rewrite(expand(str(part), defined), message=True)
            for part in list(container.get("command") or []) + list(container.get("args") or [])
        ]
        cwd = os.path.join(self.directory, run.rootfs_name, (container.get("workingDir") or "").lstrip("/"))
        os.makedirs(cwd, exist_ok=True)
        return argv, env, cwd

    def _data(self, kind: str, name: str, optional: bool = False) -> dict[str, str] | None:
        """A ConfigMap's or Secret's data as text (a Secret's decoded); None when it does not exist and
        is optional. Raises ConfigError when it does not exist and is not."""
        found = self.sim.object(kind, self.namespace, name)
        if found is None:
            if optional:
                return None
            raise ConfigError(f'{kind.lower()} "{name}" not found')
        return decoded(kind, found)

    def _key(self, kind: str, ref: dict) -> str | None:
        data = self._data(kind, ref.get("name", ""), bool(ref.get("optional")))
        if data is None:
            return None
        key = ref.get("key", "")
        if key not in data:
            if ref.get("optional"):
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {self.namespace}/{ref.get('name', '')}")
        return data[key]

    # -- processes ------------------------------------------------------------

    def _reap(self, process: subprocess.Popen) -> None:
        process.wait()
        self.wakeup.set()

    def _kill_group(self, signum: int) -> None:
        """Signal every container's process group (those still running)."""
        for run in self.inits + self.runs:
            run.kill(signum)

    def _stop_process(self, grace: float | None) -> int:
        """SIGTERM, `grace` seconds, SIGKILL, as a kubelet stops a pod's containers; the first's exit code.

        A simulated container ends as a process killed by SIGTERM (143).
        """
        running = [run for run in self.watching if run.process is not None and run.terminated is None]
        for run in running:
            if run.process.poll() is None:
                run.kill(signal.SIGTERM)
        end = time.monotonic() + max(float(grace or 0), 0.0)
        for run in running:
            try:
                run.process.wait(timeout=max(end - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                run.kill(signal.SIGKILL)
                run.process.wait()
        self._kill_group(signal.SIGKILL)
        for run in running:
            run.log.drain()
            if run is not self.runs[0]:
                code = _signal_exit(run.process.returncode)
                run.terminated = self._ended(run, code, "Completed" if code == 0 else "Error", "")
        process = self.process
        if process is None or self.runs[0].terminated is not None:
            return 143 if process is None else self.runs[0].terminated["exitCode"]
        return _signal_exit(process.returncode)

    def _write_log(self, text: str) -> None:
        if text:
            self.logs[self.first["name"]].write(text)

    def _drain(self) -> None:
        """Before the containers are reported ended: their logs hold everything they printed."""
        for run in self.runs:
            run.log.drain()

    def _read_message(self, run: ContainerRun | None = None) -> str:
        try:
            with open((run or self.runs[0]).message_file, "rb") as handle:
                return handle.read(MESSAGE_LIMIT).decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _message(self, exit_code: int, run: ContainerRun | None = None) -> str:
        """The termination message: the file, or the log's tail with FallbackToLogsOnError on failure."""
        run = run or self.runs[0]
        message = self._read_message(run)
        if not message and exit_code != 0 and run.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            tail = run.log.text()[-FALLBACK_BYTES:].decode("utf-8", errors="replace")
            message = "\n".join(tail.splitlines()[-FALLBACK_LINES:])
        return message

    # -- status (under sim.lock) ----------------------------------------------

    def _condition(self, kind: str, status: bool, reason: str = "", message: str = "") -> dict:
        previous = {c["type"]: c for c in self.pod["status"].get("conditions", [])}.get(kind)
        value = "True" if status else "False"
        condition = {"type": kind, "status": value, "lastProbeTime": None,
                     "lastTransitionTime": previous["lastTransitionTime"] if previous and previous["status"] == value
                     else now()}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        return condition

    def _status_of(self, run: ContainerRun, ready: bool) -> dict:
        state = run.terminated and {"terminated": run.terminated} or run.state
        started = "running" in state
        status = {"name": run.name, "image": run.spec.get("image", ""), "imageID": "",
                  "ready": ready and started, "restartCount": 0, "started": started, "state": state,
                  "lastState": {}}
        if "running" in state or "terminated" in state:
            image = run.spec.get("image", "")
            status["imageID"] = f"{image.split('@')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
            status["containerID"] = run.container_id(self.container_id)
        return status

    def _statuses(self, state: dict | None, ready: bool) -> list[dict]:
        """The containers' statuses, each from its own state; `state` (when given) becomes the
        state of every container that has not ended."""
        if state is not None:
            for run in self.runs:
                if run.terminated is None:
                    run.state = state
        return [self._status_of(run, ready) for run in self.runs]

    def _init_statuses(self) -> None:
        if self.inits:
            self.pod["status"]["initContainerStatuses"] = [self._status_of(run, False) for run in self.inits]

    def _ended(self, run: ContainerRun, code: int, reason: str, message: str, started: bool = True) -> dict:
        terminated = {"exitCode": code, "reason": reason,
                      "startedAt": ((run.state.get("running") or {}).get("startedAt")
                                    or getattr(self, "running_since", None)) if started else None,
                      "finishedAt": now(), "containerID": run.container_id(self.container_id)}
        if message:
            terminated["message"] = message
        return terminated

    def _unready(self) -> str:
        return f"containers with unready status: [{' '.join(self.containers)}]"

    def _unschedulable(self) -> None:
        status = self.pod["status"]
        status["conditions"] = [self._condition(
            "PodScheduled", False, "Unschedulable",
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes "
            "are available: 1 Preemption is not helpful for scheduling.",
        )]
        self.sim._commit(self, "MODIFIED")

    def _schedule(self) -> None:
        if self.removed:
            return
        self.pod["spec"]["nodeName"] = NODE_NAME
        status = self.pod["status"]
        status["phase"] = "Pending"
        status["hostIP"] = HOST_IP
        status["hostIPs"] = [{"ip": HOST_IP}]
        status["startTime"] = now()
        status["conditions"] = [
            self._condition("PodReadyToStartContainers", False),
            self._condition("Initialized", True),
            self._condition("Ready", False, "ContainersNotReady", self._unready()),
            self._condition("ContainersReady", False, "ContainersNotReady", self._unready()),
            self._condition("PodScheduled", True),
        ]
        waiting = "PodInitializing" if self.inits else "ContainerCreating"
        status["containerStatuses"] = self._statuses({"waiting": {"reason": waiting}}, ready=False)
        for run in self.inits:
            run.state = {"waiting": {"reason": "PodInitializing"}}
        self._init_statuses()
        self.sim._commit(self, "MODIFIED")

    def _run(self) -> None:
        if self.removed:
            return
        self.started = True
        status = self.pod["status"]
        status["phase"] = "Running"
        status["podIP"] = self.sim._pod_ip(self)
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["conditions"] = [
            self._condition("PodReadyToStartContainers", True),
            self._condition("Initialized", True),
            self._condition("Ready", True),
            self._condition("ContainersReady", True),
            self._condition("PodScheduled", True),
        ]
        self.running_since = now()
        status["containerStatuses"] = self._statuses({"running": {"startedAt": self.running_since}}, ready=True)
        self._init_statuses()
        self.sim._commit(self, "MODIFIED")

    def _terminate(self, exit_code: int | None, reason: str, message: str, pod_reason: str | None = None,
                   pod_message: str = "", started: bool = True, disruption: bool = False,
                   init_failed: bool = False) -> None:
        """The first container ended with `exit_code` (None: never created), or an init container
        failed (`init_failed`: the containers never start); the pod becomes Succeeded or Failed.
        Containers that ended before keep their own state; the others end with the first."""
        if self.removed or self.terminal:
            return
        status = self.pod["status"]
        finished = now()
        first = self.runs[0]
        if init_failed:
            for run in self.runs:
                run.state = {"waiting": {"reason": "PodInitializing"}}
        elif first.terminated is None:
            if exit_code is None:
                first.terminated = {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                    "message": "The container could not be located when the pod was terminated",
                                    "startedAt": None, "finishedAt": finished}
            else:
                first.terminated = {"exitCode": exit_code, "reason": reason,
                                    "startedAt": getattr(self, "running_since", None) if started else None,
                                    "finishedAt": finished, "containerID": self.container_id}
                if message:
                    first.terminated["message"] = message
        if not init_failed:
            for run in self.runs[1:]:
                if run.terminated is None:  # not run, or still running: it ends with the first one
                    run.terminated = {
                        "exitCode": 0 if exit_code == 0 else 137, "reason": "Completed" if exit_code == 0 else "Error",
                        "startedAt": first.terminated["startedAt"], "finishedAt": finished,
                        "containerID": run.container_id(self.container_id)}
        succeeded = (not init_failed and pod_reason is None
                     and all(run.terminated["exitCode"] == 0 for run in self.runs))
        status["phase"] = "Succeeded" if succeeded else "Failed"
        if pod_reason:
            status["reason"] = pod_reason
            status["message"] = pod_message
        ready_reason = "PodCompleted" if succeeded else "PodFailed"
        conditions = []
        if disruption:
            conditions.append(self._condition("DisruptionTarget", True, "TerminationByKubelet", pod_message))
        conditions += [
            self._condition("PodReadyToStartContainers", False),
            self._condition("Initialized", not init_failed, "PodCompleted" if init_failed else ""),
            self._condition("Ready", False, ready_reason),
            self._condition("ContainersReady", False, ready_reason),
            self._condition("PodScheduled", "nodeName" in self.pod["spec"]),
        ]
        status["conditions"] = conditions
        status["containerStatuses"] = [self._status_of(run, False) for run in self.runs]
        self._init_statuses()
        self.sim._commit(self, "MODIFIED")


class ContainerRun:
    """One container of a simulated pod: its log, its termination message file, its process and
    rootfs (the first container's is `<pod dir>/rootfs`, another's `<pod dir>/rootfs-<name>`)."""

    def __init__(self, spec: dict, directory: str, own: bool):
        self.spec = spec
        self.name = spec["name"]
        suffix = f"-{self.name}" if own else ""
        self.first = not own
        self.rootfs_name = "rootfs" + suffix
        self.message_file = os.path.join(directory, "termination-log" + suffix)
        self.log = ContainerLog(os.path.join(directory, f"{self.name}.log"))
        self.process: subprocess.Popen | None = None
        self.volumes: Volumes | None = None
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.terminated: dict | None = None

    def container_id(self, base: str) -> str:
        return base if self.first else f"{base}-{self.name}"

    def kill(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
