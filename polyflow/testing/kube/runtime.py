"""What a kubelet would do with a pod: one thread per pod moves it through
Pending, Running and Succeeded or Failed, runs its first container's command
as a local process (or simulates the run), and carries out deletions,
evictions, OOM kills and deadlines.

Only the first container is executed. The other containers (and init
containers) are not run: they are reported running alongside it and ending
with it. Its downwardAPI and emptyDir volumes are made in the pod's directory
(`volumes.py`).
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
from .volumes import Volumes

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
        self.containers = [c["name"] for c in spec["containers"]]
        self.first = spec["containers"][0]
        os.makedirs(directory, exist_ok=True)
        # Each container's log, with the time of every line (logs.py): what the log endpoint reads.
        self.logs = {name: ContainerLog(os.path.join(directory, f"{name}.log")) for name in self.containers}
        self.message_file = os.path.join(directory, "termination-log")
        self.removed = False  # deleted from the store
        self.done = False  # the lifecycle thread is over
        self.started = False  # the container was started (its log exists)
        self.actions: list[tuple] = []
        self.wakeup = threading.Event()
        self.process: subprocess.Popen | None = None
        self.volumes: Volumes | None = None  # made when the command is run
        self.start_clock: float | None = None
        self.thread = threading.Thread(target=self._main, name=f"pod {namespace}/{name}", daemon=True)
        self.container_id = "containerd://" + hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest()
        open(self.message_file, "wb").close()

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
            if self.process is not None and self.process.poll() is not None:
                return ("exited",)
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
        with self.sim.lock:
            self._schedule()
            if self.removed:  # deleted meanwhile
                return
        self.start_clock = time.monotonic()
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        deadline_at = self.start_clock + deadline if deadline else None

        plan = self._plan()
        for name in self.containers[1:]:
            self.logs[name].write(f"kube-simulator: container '{name}' is not run (only a pod's first container "
                                  f"is executed)\n")
        if plan[0] == "start_error":
            with self.sim.lock:
                self._terminate(128, "StartError", plan[1], pod_reason=None, started=False)
            return
        if plan[0] == "run":
            argv, env, cwd = plan[1:]
            output = self.logs[self.first["name"]].attach()
            try:
                self.process = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True, close_fds=True,
                )
            except OSError as error:
                os.close(output)
                with self.sim.lock:
                    self._terminate(128, "StartError", f"failed to start container process: {error}",
                                    pod_reason=None, started=False)
                return
            os.close(output)  # the command has it: the log ends when the command's group closes it
            threading.Thread(target=self._reap, daemon=True, name=f"wait {self.name}").start()
            ends_at = None
        else:
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
                code = _signal_exit(self.process.returncode)
                self._kill_group(signal.SIGKILL)  # what it left running goes with the container
                self._drain()
                with self.sim.lock:
                    self._terminate(code, "Completed" if code == 0 else "Error", self._message(code))
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
        if not container.get("command"):
            return ("simulate", sim.run_time,
                    f"kube-simulator: simulated a successful run of image '{image}': the container has no "
                    f"command (the image's entrypoint cannot run here)\n")
        argv, env, cwd = self._command()
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

    def _command(self) -> tuple[list[str], dict[str, str], str]:
        """The argv, environment and working directory of the first container, mapped to this machine.

        The environment is the simulator's, plus HOSTNAME and the container's
        `env` (values, with `$(VAR)` expansion, and `fieldRef`s; secrets,
        config maps and `envFrom` are not available here). The termination
        message path P becomes a file of the pod's directory: `$TERMINATION_LOG`
        names it, every env value equal to P and every P inside the command
        and args are replaced by it. The downwardAPI and emptyDir volumes are
        made in the pod's directory (`volumes.py`) and their mount paths in env
        values, command and args are rewritten to point there. Expansion is
        done with the values the container would see, rewriting after it.
        """
        container = self.first
        path = container.get("terminationMessagePath") or DEFAULT_MESSAGE_PATH
        defined: dict[str, str] = {}  # as the container sees them
        for variable in container.get("env") or []:
            name = variable["name"]
            if "valueFrom" in variable:
                field_ref = (variable["valueFrom"] or {}).get("fieldRef")
                value = self._field(field_ref.get("fieldPath", "")) if field_ref else None
                if value is None:
                    continue  # secretKeyRef, configMapKeyRef, resourceFieldRef: not available here
            else:
                value = expand(str(variable.get("value", "")), defined)
            defined[name] = value
        defined.setdefault("TERMINATION_LOG", path)
        self.volumes = Volumes(self.pod, container, self.directory, defined, message=(path, self.message_file))
        env = dict(os.environ)
        env["HOSTNAME"] = self.name
        env.update({name: self.message_file if value == path else self.volumes.rewrite(value)
                    for name, value in defined.items()})
        argv = [
            self.volumes.rewrite(expand(str(part), defined), message=True)
            for part in list(container.get("command") or []) + list(container.get("args") or [])
        ]
        cwd = os.path.join(self.directory, "rootfs", (container.get("workingDir") or "").lstrip("/"))
        os.makedirs(cwd, exist_ok=True)
        return argv, env, cwd

    # -- processes ------------------------------------------------------------

    def _reap(self) -> None:
        process = self.process
        if process is not None:
            process.wait()
        self.wakeup.set()

    def _kill_group(self, signum: int) -> None:
        process = self.process
        if process is None:
            return
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _stop_process(self, grace: float | None) -> int:
        """SIGTERM, `grace` seconds, SIGKILL, as a kubelet stops a container; the exit code.

        A simulated container ends as a process killed by SIGTERM (143).
        """
        process = self.process
        if process is None:
            return 143
        if process.poll() is None:
            self._kill_group(signal.SIGTERM)
            try:
                process.wait(timeout=max(float(grace or 0), 0.0))
            except subprocess.TimeoutExpired:
                self._kill_group(signal.SIGKILL)
                process.wait()
        self._kill_group(signal.SIGKILL)
        self._drain()
        return _signal_exit(process.returncode)

    def _write_log(self, text: str) -> None:
        if text:
            self.logs[self.first["name"]].write(text)

    def _drain(self) -> None:
        """Before the container is reported ended: its log holds everything it printed."""
        self.logs[self.first["name"]].drain()

    def _read_message(self) -> str:
        try:
            with open(self.message_file, "rb") as handle:
                return handle.read(MESSAGE_LIMIT).decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _message(self, exit_code: int) -> str:
        """The termination message: the file, or the log's tail with FallbackToLogsOnError on failure."""
        message = self._read_message()
        if not message and exit_code != 0 and self.first.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            tail = self.logs[self.first["name"]].text()[-FALLBACK_BYTES:].decode("utf-8", errors="replace")
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

    def _container_statuses(self, state: dict, ready: bool, started: bool, running: bool) -> list[dict]:
        statuses = []
        for container in self.pod["spec"]["containers"]:
            status = {"name": container["name"], "image": container.get("image", ""), "imageID": "",
                      "ready": ready, "restartCount": 0, "started": started, "state": state, "lastState": {}}
            if running or "terminated" in state:
                image = container.get("image", "")
                status["imageID"] = f"{image.split('@')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
                status["containerID"] = self.container_id
            statuses.append(status)
        return statuses

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
        status["containerStatuses"] = self._container_statuses(
            {"waiting": {"reason": "ContainerCreating"}}, ready=False, started=False, running=False)
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
        status["containerStatuses"] = self._container_statuses(
            {"running": {"startedAt": self.running_since}}, ready=True, started=True, running=True)
        self.sim._commit(self, "MODIFIED")

    def _terminate(self, exit_code: int | None, reason: str, message: str, pod_reason: str | None = None,
                   pod_message: str = "", started: bool = True, disruption: bool = False) -> None:
        """The container ended with `exit_code` (None: never created); the pod becomes Succeeded or Failed."""
        if self.removed or self.terminal:
            return
        status = self.pod["status"]
        finished = now()
        succeeded = exit_code == 0 and pod_reason is None
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
            self._condition("Initialized", True),
            self._condition("Ready", False, ready_reason),
            self._condition("ContainersReady", False, ready_reason),
            self._condition("PodScheduled", "nodeName" in self.pod["spec"]),
        ]
        status["conditions"] = conditions
        if exit_code is None:
            state = {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                    "message": "The container could not be located when the pod was terminated",
                                    "startedAt": None, "finishedAt": finished}}
        else:
            terminated = {"exitCode": exit_code, "reason": reason,
                          "startedAt": getattr(self, "running_since", None) if started else None,
                          "finishedAt": finished, "containerID": self.container_id}
            if message:
                terminated["message"] = message
            state = {"terminated": terminated}
        statuses = self._container_statuses(state, ready=False, started=False, running=started)
        for other in statuses[1:]:  # containers not run: they end with the first one
            other["state"] = {"terminated": {
                "exitCode": 0 if exit_code == 0 else 137, "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": state["terminated"]["startedAt"], "finishedAt": finished,
                "containerID": self.container_id + "-" + other["name"]}}
        status["containerStatuses"] = statuses
        self.sim._commit(self, "MODIFIED")
