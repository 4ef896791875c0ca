"""How long the spec language takes to read and compile big pipelines.

Run from the repository root: `python bench/spec_bench.py`. It generates
pipelines of 100, 1,000 and 10,000 ops as YAML text (a fixed seed, so every run
reads the same documents), times `parse_yaml` + `check` (best of 3) and prints
seconds, microseconds per op and the linearity: the time ratio to the 100-op
pipeline divided by the size ratio (1.0 = perfectly linear).

`--profile N` profiles one compilation of N ops with cProfile instead.

Other benchmarks import `compile_seconds(n_ops)`: the same measurement for one
size (bench/startup_bench.py prints it beside the start-up figures).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polyflow.spec import check, parse_yaml  # noqa: E402

SIZES = (100, 1_000, 10_000)
REPEATS = 3
SEED = 20190624
TRIGGERS = ("all_succeeded", "all_done", "one_succeeded", "none_failed", "all_failed", "one_done")

TEMPLATES = """\
templates:
  - kind: job
    name: prepare
    inputs:
      - {name: source, type: s3_path}
      - {name: day, type: date, default: '2019-06-24'}
      - {name: limit, type: int, default: 1000}
      - {name: mode, type: str, options: [fast, full], default: fast}
      - {name: image, type: image, is_optional: true}
    outputs:
      - {name: rows, type: int}
      - {name: table, type: s3_path}
    container:
      image: 'registry.example.com:5000/data/prepare:1.4'
      command: [python, -m, prepare]
      args: ['--source={{ params.source }}', '--day={{ params.day }}', '--mode={{ params.mode }}',
             '--run={{ globals.run_uuid }}']
      env: [{name: LOG_LEVEL, value: info}]
    environment:
      max_restarts: 2
      node_selector: {pool: cpu}
      resources: {cpu: {requests: 500m, limits: 2}, memory: {requests: 1Gi}}
  - kind: experiment
    name: train
    inputs:
      - {name: data, type: str}
      - {name: rows, type: int, is_optional: true}
      - {name: lr, type: float, default: 0.01}
      - {name: epochs, type: int, default: 5}
      - {name: layers, type: int, is_list: true, default: [64, 32]}
      - {name: config, type: dict, default: {optimizer: adam}}
      - {name: started, type: datetime, is_optional: true}
    outputs:
      - {name: accuracy, type: float}
      - {name: model, type: path}
    container:
      image: 'python:3.11'
      command: [python, train.py]
      args: ['--data={{ params.data }}', '--lr={{ params.lr }}', '--epochs={{ params.epochs }}']
    environment:
      labels: {team: ml}
      resources: {gpu: {limits: 1}}
"""


def generate(size: int, seed: int = SEED) -> str:
    """A pipeline of `size` ops as YAML text; each op depends on 1-3 earlier ops."""
    rng = random.Random(seed)
    kinds: list[str] = []
    lines = ["version: 1", "kind: pipeline", f"name: bench-{size}", "concurrency: 50", "ops:"]
    for index in range(size):
        name = f"op-{index:05d}"
        kind = "prepare" if index == 0 or rng.random() < 0.4 else "train"
        kinds.append(kind)
        lines.append(f"  - name: {name}")
        lines.append(f"    template: {{name: {kind}}}")
        upstream = rng.sample(range(index), k=min(index, rng.randint(1, 3))) if index else []
        if upstream:
            lines.append(f"    dependencies: [{', '.join(f'op-{up:05d}' for up in sorted(upstream))}]")
        params: dict[str, object] = {}
        if kind == "prepare":
            params["source"] = f"s3://bench-data/part-{index}"
            if rng.random() < 0.5:
                params["limit"] = rng.randint(1, 10_000)
            if rng.random() < 0.3:
                params["mode"] = "full"
        else:
            earlier_prepare = [i for i in upstream if kinds[i] == "prepare"]
            if earlier_prepare:
                source = f"op-{rng.choice(earlier_prepare):05d}"
                params["data"] = f"{{{{ ops.{source}.outputs.table }}}}"
                params["rows"] = f"{{{{ ops.{source}.outputs.rows }}}}"
            else:
                params["data"] = f"table-{index} of {{{{ globals.schedule_at }}}}"
            params["lr"] = round(rng.uniform(0.001, 0.1), 4)
            if rng.random() < 0.3:
                params["layers"] = [rng.choice((16, 32, 64, 128)) for _ in range(3)]
        lines.append(f"    params: {json.dumps(params)}")
        if rng.random() < 0.3:
            lines.append(f"    trigger: {rng.choice(TRIGGERS)}")
        if rng.random() < 0.25:
            lines.append(f"    max_retries: {rng.randint(1, 5)}")
            lines.append(f"    retry_delay: {rng.choice((10, 30, 120))}")
            lines.append("    retry_exp_backoff: true")
        if rng.random() < 0.1:
            lines.append("    timeout: 3600")
    return "\n".join(lines) + "\n" + TEMPLATES


def compile_once(text: str, size: int) -> float:
    start = time.perf_counter()
    compilation = check(parse_yaml(text, f"bench-{size}.yaml"))
    elapsed = time.perf_counter() - start
    plan = compilation.pipelines[0]
    assert len(plan.order) == size, "every op must be in the plan's order"
    return elapsed


def compile_seconds(n_ops: int, repeats: int = REPEATS, seed: int = SEED) -> float:
    """Seconds that `parse_yaml` + `check` take on the generated pipeline of `n_ops` ops,
    best of `repeats` (in this process: what a command pays once its imports are done)."""
    text = generate(n_ops, seed)
    return min(compile_once(text, n_ops) for _ in range(max(1, repeats)))


def run(sizes=SIZES, repeats: int = REPEATS) -> list[tuple[int, float]]:
    return [(size, compile_seconds(size, repeats)) for size in sizes]


def table(results: list[tuple[int, float]]) -> str:
    base_size, base_time = results[0]
    rows = [f"{'ops':>7}  {'seconds':>9}  {'us/op':>8}  {'linearity':>9}"]
    for size, seconds in results:
        linearity = (seconds / base_time) / (size / base_size)
        rows.append(f"{size:>7,}  {seconds:>9.3f}  {seconds / size * 1e6:>8.1f}  {linearity:>9.2f}")
    return "\n".join(rows)


def profile(size: int, limit: int = 25) -> None:
    text = generate(size)
    profiler = cProfile.Profile()
    profiler.enable()
    check(parse_yaml(text, f"bench-{size}.yaml"))
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("cumulative")
    stats.print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=int, metavar="OPS", help="profile one compilation instead")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return 0
    print(f"parse_yaml + check, best of {REPEATS} (seed {SEED})")
    print(table(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
