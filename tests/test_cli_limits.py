"""Every hostile spec text of tests/bombs.py, refused by `polyflow validate`, `apply` and `run`
with exit 1 and a message naming its limit, in bounded time and memory.

The bound is measured on the real command, in a subprocess: its CPU time (user and
system, which another busy process on the machine does not inflate as it does wall
time) and its peak resident memory, each over what the same command costs for a
tiny file. The issue's target is 1 s and 100 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.bombs import BOMBS
from tests.conftest import ROOT

MAX_EXTRA_CPU_SECONDS = 1.0
MAX_EXTRA_MEMORY = 100 * 2**20

COMMANDS = {
    "validate": lambda path: ["validate", path],
    "apply": lambda path: ["apply", "-f", path, "--project", "alice/ml"],
    "run": lambda path: ["run", path],
}


@dataclass
class Measured:
    returncode: int
    stderr: str
    cpu_seconds: float
    max_rss: int  # bytes


# The command as `python -m polyflow.cli` runs it, then its own peak resident memory written
# out: the kernel's ru_maxrss of a child counts the parent's memory at fork, /proc's VmHWM
# is the exec'd program's alone.
_WRAPPER = """
import atexit, os, runpy, sys

def peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(kib)

atexit.register(peak)
sys.argv[0] = "polyflow"
runpy.run_module("polyflow.cli", run_name="__main__", alter_sys=True)
"""


def measured(args: list[str], env: dict[str, str], tmp_path) -> Measured:
    """Run the CLI; its CPU time as the kernel accounts it (wait4), its peak memory as /proc does."""
    err_path, peak_path = tmp_path / "stderr", tmp_path / "peak"
    with open(err_path, "wb") as err, open(os.devnull, "wb") as out:
        process = subprocess.Popen([sys.executable, "-c", _WRAPPER, *args], cwd=ROOT,
                                   env={**env, "PEAK_FILE": str(peak_path)},
                                   stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # so that Popen does not wait for it again
    return Measured(process.returncode, err_path.read_text(), usage.ru_utime + usage.ru_stime,
                    int(peak_path.read_text()) * 1024)


@pytest.fixture(scope="module")
def bomb_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    paths = {}
    for name, (make, _) in BOMBS.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(make())
    tiny = folder / "tiny.yaml"
    tiny.write_text("version: 1\nkind: pipeline\nname: tiny\nops: []\n")  # invalid, refused at once
    paths["tiny"] = tiny
    return paths


@pytest.fixture(scope="module")
def alice_home(tmp_path_factory):
    from tests.conftest import clean_environ, polyflow

    root = tmp_path_factory.mktemp("cli-limits")
    env = {**clean_environ(root / "home"), "POLYFLOW_HOME": str(root / "polyflow")}
    assert polyflow("manage", "migrate", "--no-input", env=env).returncode == 0
    result = polyflow("manage", "createsuperuser", "--noinput", "--username", "alice", "--email", "a@example.com",
                      env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret-pw"})
    assert result.returncode == 0, result.stderr
    return env


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bomb", BOMBS)
def test_refused_in_bounded_time_and_memory(bomb, command, bomb_files, alice_home, tmp_path):
    args = COMMANDS[command]
    baseline = measured(args(str(bomb_files["tiny"])), alice_home, tmp_path)
    assert baseline.returncode == 1, baseline.stderr
    result = measured(args(str(bomb_files[bomb])), alice_home, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    setting = BOMBS[bomb][1]
    assert f"more than the limit of {{:,}} (POLYFLOW['{setting}']): refused".format(
        _default(setting)) in result.stderr, result.stderr[:2000]
    assert len(result.stderr) < 2000  # the refusal does not echo the text
    assert result.cpu_seconds - baseline.cpu_seconds < MAX_EXTRA_CPU_SECONDS, (result.cpu_seconds, baseline)
    assert result.max_rss - baseline.max_rss < MAX_EXTRA_MEMORY, (result.max_rss, baseline.max_rss)


def _default(setting: str) -> int:
    from polyflow.conf import DEFAULTS

    return DEFAULTS[setting]


def test_a_limit_is_a_setting_the_cli_reads(bomb_files, alice_home, tmp_path):
    # Raised through its POLYFLOW_ variable, the limit lets the text through to the next check.
    env = {**alice_home, "POLYFLOW_MAX_OPS": "200000"}
    result = measured(["validate", str(bomb_files["many-ops"])], env, tmp_path)
    assert "MAX_OPS" not in result.stderr
    result = measured(["validate", str(bomb_files["many-ops"])], {**alice_home, "POLYFLOW_MAX_OPS": "0"}, tmp_path)
    assert result.returncode == 1
    assert result.stderr == "Error: POLYFLOW_MAX_OPS='0': expected at least 1\n"
