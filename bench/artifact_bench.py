"""Artifact moves: a 200 MB artifact up and down through Polyflow against s3fs directly.

    python bench/artifact_bench.py [--mb 200] [--repeat 2]

Starts moto's S3 server on loopback (the test extra), makes a file of `--mb`
MB of random bytes, and moves it to and from the same bucket four ways, each
in a process of its own so that its peak memory (the process's maximum
resident set, `ru_maxrss`) is its own:

- polyflow upload:   `transfer.push_all` (Store.upload, the sha256 computed as it
                     streams, then the manifest): what an op's push does
- polyflow download: `transfer.pull_all` (Store.download): what an op's pull does
- s3fs upload:       `S3FileSystem.put_file` of the same bytes
- s3fs download:     `S3FileSystem.get_file`

Each is timed `--repeat` times (the best is kept); the ratio is Polyflow's time
over s3fs's. moto keeps objects in memory in its own process: only the mover's
memory is measured. Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

BUCKET = "polyflow-bench"
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **ENV})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise SystemExit("moto's server did not start")
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                 aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
    return process, endpoint


def worker(way: str, endpoint: str, local: str, key: str) -> dict:
    """One move in this process: its seconds and this process's peak memory."""
    options = {"endpoint_url": endpoint}
    started = time.perf_counter()
    if way.startswith("polyflow"):
        from polyflow.artifacts.store import Store
        from polyflow.artifacts.transfer import Pull, Push, pull_all, push_all

        store = Store(f"s3://{BUCKET}", options)
        uri = store.uri(key)
        quiet = lambda line: None  # noqa: E731 - the progress lines are the op's log's
        if way == "polyflow-upload":
            push_all(store, [Push("model", local, uri)], store.uri(key + ".manifest.json"), report=quiet)
        else:
            pull_all(store, [Pull("model", uri, local)], report=quiet)
    else:
        import s3fs

        fs = s3fs.S3FileSystem(**options)
        if way == "s3fs-upload":
            fs.put_file(local, f"{BUCKET}/{key}")
        else:
            fs.get_file(f"{BUCKET}/{key}", local)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"seconds": seconds, "peak_mib": peak_kib / 1024}


def run_worker(way: str, endpoint: str, local: str, key: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", way, endpoint, local, key],
                            capture_output=True, text=True, env={**os.environ, **ENV}, check=False)
    if result.returncode:
        raise SystemExit(f"{way} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def baseline_peak() -> float:
    """The peak memory of a process that imported the same libraries and moved nothing."""
    code = ("import resource, s3fs, polyflow.artifacts.transfer; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            source = os.path.join(scratch, "artifact.bin")
            with open(source, "wb") as out:
                for _ in range(args.mb):
                    out.write(os.urandom(1024 * 1024))
            figures: dict[str, dict] = {}
            for attempt in range(args.repeat):
                for way, key in (("polyflow-upload", "polyflow/model"), ("s3fs-upload", "direct/model"),
                                 ("polyflow-download", "polyflow/model"), ("s3fs-download", "direct/model")):
                    local = source if way.endswith("upload") else os.path.join(scratch, f"{way}-{attempt}.bin")
                    result = run_worker(way, endpoint, local, key)
                    best = figures.get(way)
                    if best is None or result["seconds"] < best["seconds"]:
                        figures[way] = {**result, "peak_mib": max(result["peak_mib"], (best or result)["peak_mib"])}
                    if not way.endswith("upload"):
                        os.remove(local)
            base = baseline_peak()
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    size = args.mb * 1024 * 1024
    print(f"artifact of {args.mb} MB ({size} bytes) to and from moto's S3 server on loopback, "
          f"best of {args.repeat}; peak memory is each mover process's maximum RSS "
          f"(a process that only imports the libraries: {base:.0f} MiB)")
    print(f"{'move':<20}{'seconds':>9}{'MB/s':>9}{'peak MiB':>10}")
    for way, result in figures.items():
        print(f"{way:<20}{result['seconds']:>9.2f}{args.mb / result['seconds']:>9.1f}{result['peak_mib']:>10.0f}")
    for direction in ("upload", "download"):
        ours, theirs = figures[f"polyflow-{direction}"], figures[f"s3fs-{direction}"]
        print(f"{direction}: Polyflow / s3fs = {ours['seconds'] / theirs['seconds']:.2f} in time, "
              f"{ours['peak_mib'] - base:.0f} MiB against {theirs['peak_mib'] - base:.0f} MiB above the imports")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        print(json.dumps(worker(*sys.argv[2:])))
    else:
        main()
