"""`python -m polyflow.testing.kube --port N [--host H] [--no-exec] ...`: serve until interrupted.

The first line on stdout is the simulator's URL (useful with `--port 0`,
which picks a free port), so a parent process can read it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .simulator import KubeSimulator
from .validation import kube_version as default_kube_version


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m polyflow.testing.kube",
        description="A Kubernetes API simulator for pods: validates them, runs their commands locally, "
                    "injects faults. The first line printed is its URL.",
    )
    parser.add_argument("--port", type=int, default=8001, help="port to listen on; 0 picks a free one (default 8001)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--no-exec", dest="execute", action="store_false",
                        help="do not run commands: every pod succeeds after a simulated run")
    parser.add_argument("--namespace", action="append", default=[], metavar="NAME",
                        help="a namespace that exists besides default and polyflow (repeatable)")
    parser.add_argument("--run-time", type=float, default=0.2, metavar="SECONDS",
                        help="how long a simulated run lasts (default 0.2)")
    parser.add_argument("--pending-time", type=float, default=0.02, metavar="SECONDS",
                        help="how long a pod stays Pending before it starts (default 0.02)")
    parser.add_argument("--missing-executable", choices=("succeed", "fail"), default="succeed",
                        help="a pod whose executable does not exist here: simulate a success (default) or fail "
                             "with StartError")
    parser.add_argument("--kube-version", default=None, metavar="MAJOR.MINOR",
                        help="Kubernetes version of the validation schemas (default: the newest available)")
    parser.add_argument("--workdir", default=None,
                        help="directory for the pods' logs and files (default: a temporary one, removed at exit)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.kube_version is None:
        try:
            options.kube_version = default_kube_version()
        except ImportError as error:  # kubernetes-validate is not installed: the message says which extra
            print(f"kube-simulator: {error}", file=sys.stderr)
            return 1
    sim = KubeSimulator(
        host=options.host, port=options.port, namespaces=options.namespace, execute=options.execute,
        run_time=options.run_time, pending_time=options.pending_time,
        missing_executable=options.missing_executable, kube_version=options.kube_version,
        workdir=options.workdir, verbose=options.verbose,
    )
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    sim.start()
    print(sim.url, flush=True)
    print(f"kube-simulator: Kubernetes {sim.kube_version} API for pods at {sim.url} "
          f"(namespaces: {', '.join(sim.namespaces())}; commands {'run' if sim.execute else 'simulated'}); "
          f"Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
