"""Start-up: what Polyflow's commands cost before they do their work, against Python and Django.

    python bench/startup_bench.py [--runs 7] [--no-compile]

Every figure is the median of `--runs` runs, each a new process with a fresh
POLYFLOW_HOME (an empty temporary directory: the embedded SQLite database does
not exist yet, so the commands that need it create it):

- `python -c pass`: the interpreter alone.
- `import django; django.setup()` with the standalone settings (the same
  environment, SQLite in the fresh home): Django's own set-up, every app of
  INSTALLED_APPS; and with LOCAL_APPS only, what `polyflow run` loads.
- `polyflow --help`, `polyflow validate examples/quickstart.yaml` and
  `polyflow runs list`: the whole command, from just before the process is
  started to its exit.
- `polyflow run` of a chain of 10 ops running `true`: from just before the
  process is started to the start of the first op, as the local backend
  records it (the `started_at` its runner writes to process.json, the op run's
  `started_at` in the database: taken just before the op's process is
  started). Both ends read the same wall clock (time.time). The whole command
  is shown too.

Bytecode is cached, as after `pip install` (which compiles every module): in a
temporary PYTHONPYCACHEPREFIX, filled by one unmeasured run of each command
first. Without it (PYTHONDONTWRITEBYTECODE, as on some CI machines) every run
would compile Polyflow's modules again.

Then the spec language's compile times, from bench/spec_bench.py (parse_yaml +
check of 100 to 10,000 ops; `--no-compile` leaves them out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from handoff_bench import _clean_env, _stop_runner_server, chain_yaml

ROOT = Path(__file__).resolve().parents[1]
CHAIN_OPS = 10
TIMEOUT = 120  # seconds: a command that takes longer is killed
SETUP = "import django; django.setup()"
SETUP_LOCAL = ("import django; from django.conf import settings; "
               "from polyflow.standalone.components import LOCAL_APPS; "
               "settings.INSTALLED_APPS = LOCAL_APPS; django.setup()")
# (label, python arguments, whether it is `polyflow run`: timed to its first op's start)
COMMANDS = [
    ("python -c pass", ["-c", "pass"], False),
    ("django.setup(), standalone settings", ["-c", SETUP], False),
    ("django.setup(), LOCAL_APPS only", ["-c", SETUP_LOCAL], False),
    ("polyflow --help", ["-m", "polyflow.cli", "--help"], False),
    ("polyflow validate examples/quickstart.yaml", ["-m", "polyflow.cli", "validate", "examples/quickstart.yaml"],
     False),
    ("polyflow runs list", ["-m", "polyflow.cli", "runs", "list"], False),
    (f"polyflow run, {CHAIN_OPS}-op chain", ["-m", "polyflow.cli", "run", "CHAIN"], True),
]


def first_op_start(polyflow_home: Path) -> float:
    """When the chain's first op started (seconds since the epoch), from its runner's process.json."""
    [process] = (polyflow_home / "runs").glob("chain-o0-*/process.json")
    return dt.datetime.fromisoformat(json.loads(process.read_text())["started_at"]).timestamp()


def once(args: list[str], is_run: bool, pycache: str) -> tuple[float, float | None]:
    """One run in a fresh home: (seconds to exit, seconds to the first op's start or None)."""
    home = Path(tempfile.mkdtemp(prefix="polyflow-startup-"))
    try:
        env = _clean_env(home)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(PYTHONPYCACHEPREFIX=pycache, DJANGO_SETTINGS_MODULE="polyflow.standalone.settings")
        chain = home / "chain.yaml"
        chain.write_text(chain_yaml(CHAIN_OPS, name="chain"))
        argv = [sys.executable, *(str(chain) if arg == "CHAIN" else arg for arg in args)]
        if args[0] == "-m":
            del env["DJANGO_SETTINGS_MODULE"]  # the command's default, as a user runs it
        started = time.time()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        # A plain wait returns when the process exits; one with a timeout polls, every 50 ms at worst.
        timer = threading.Timer(TIMEOUT, process.kill)
        timer.start()
        code = process.wait()
        took = time.time() - started
        timer.cancel()
        if code != 0:
            raise SystemExit(f"{' '.join(args)} failed with exit status {code}")
        return took, (first_op_start(Path(env["POLYFLOW_HOME"])) - started) if is_run else None
    finally:
        _stop_runner_server(home)
        shutil.rmtree(home, ignore_errors=True)


def measure(runs: int) -> list[tuple[str, float, float | None]]:
    """(label, median seconds to exit, median seconds to the first op's start or None) per command."""
    pycache = tempfile.mkdtemp(prefix="polyflow-startup-pycache-")
    try:
        results = []
        for label, args, is_run in COMMANDS:
            once(args, is_run, pycache)  # fills the bytecode cache
            times = [once(args, is_run, pycache) for _ in range(runs)]
            first = statistics.median(t[1] for t in times) if is_run else None
            results.append((label, statistics.median(t[0] for t in times), first))
        return results
    finally:
        shutil.rmtree(pycache, ignore_errors=True)


def table(results: list[tuple[str, float, float | None]]) -> str:
    width = max(len(label) for label, _, _ in results)
    rows = [f"{'command':<{width}}  {'start-up':>9}  {'whole':>7}"]
    for label, whole, first in results:
        start = f"{first:.3f} s" if first is not None else f"{whole:.3f} s"
        rows.append(f"{label:<{width}}  {start:>9}  {whole:>5.3f} s")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (the median is shown)")
    parser.add_argument("--no-compile", action="store_true", help="leave out bench/spec_bench.py's compile times")
    args = parser.parse_args(argv)
    print(f"start-up, median of {args.runs} runs, a fresh POLYFLOW_HOME each, bytecode cached "
          f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    print("start-up: to the first op's start for `polyflow run`, to the exit for the others")
    print(table(measure(args.runs)))
    if not args.no_compile:
        import spec_bench

        print(f"\nthe spec compiler (bench/spec_bench.py): parse_yaml + check, best of {spec_bench.REPEATS}")
        print(spec_bench.table(spec_bench.run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
