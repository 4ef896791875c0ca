"""Running pipelines with the local backend to the end, for the artifact tests."""

import time

from polyflow.models import PipelineRun
from polyflow.scheduler.tick import tick

BUSY = ("scheduled", "starting", "running", "stopping")


def settle(backend, runs, deadline=60.0):
    """Tick until every one of `runs` is final (their commands run in real time)."""
    end = time.monotonic() + deadline
    pks = [run.pk for run in runs]
    while True:
        tick(backend=backend)
        active = PipelineRun.objects.filter(pk__in=pks).exclude(status__in=["succeeded", "failed", "stopped"])
        if not active.exists():
            return
        if time.monotonic() > end:
            states = [(run.uuid, run.status, list(run.op_runs.values_list("name", "status", "reason", "message")))
                      for run in active]
            raise AssertionError(f"still going after {deadline} s: {states}")
        time.sleep(0.05)


PIPELINE = """
version: 1
kind: pipeline
name: {name}
{extra}
ops:
  - name: make
    template: {{name: make}}
    params: {{size: {size}}}
  - name: use
    template: {{name: use}}
    params: {{model: '{{{{ ops.make.outputs.model }}}}', data: '{{{{ ops.make.outputs.data }}}}',
              where: '{{{{ ops.make.outputs.model }}}}'}}
templates:
  - kind: job
    name: make
    inputs: [{{name: size, type: int}}]
    outputs: [{{name: model, type: path}}, {{name: data, type: path}}, {{name: rows, type: int}}]
    container:
      image: python:3.11-slim
      command:
        - python3
        - -c
        - |
          import json, os
          out = os.environ["POLYFLOW_OUTPUTS_DIR"]
          size = int(os.environ["POLYFLOW_PARAM_SIZE"])
          with open(os.path.join(out, "model"), "wb") as f:
              f.write(b"m" * size)
          os.makedirs(os.path.join(out, "data", "part", "deep"))
          with open(os.path.join(out, "data", "a.csv"), "w") as f:
              f.write("1,2\\n")
          with open(os.path.join(out, "data", "part", "deep", "b.csv"), "w") as f:
              f.write("3,4\\n")
          with open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w") as f:
              json.dump({{"rows": 2}}, f)
  - kind: job
    name: use
    inputs: [{{name: model, type: path}}, {{name: data, type: path}}, {{name: where, type: str}}]
    outputs: [{{name: model_bytes, type: int}}, {{name: files, type: list}}, {{name: where, type: str}}]
    container:
      image: python:3.11-slim
      command:
        - python3
        - -c
        - |
          import json, os
          model, data = os.environ["POLYFLOW_PARAM_MODEL"], os.environ["POLYFLOW_PARAM_DATA"]
          files = sorted(os.path.relpath(os.path.join(root, name), data)
                         for root, _, names in os.walk(data) for name in names)
          with open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w") as f:
              json.dump({{"model_bytes": os.path.getsize(model), "files": files,
                         "where": os.environ["POLYFLOW_PARAM_WHERE"]}}, f)
"""


def pipeline_yaml(name="artifacts", size=1000, extra=""):
    return PIPELINE.format(name=name, size=size, extra=extra)
