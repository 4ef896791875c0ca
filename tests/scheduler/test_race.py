"""Several processes ticking the same runs at once on PostgreSQL: every op run
reaches the backend exactly once per attempt."""

import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from polyflow.models import PipelineRun
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
from tests.conftest import ROOT

TICKER = textwrap.dedent("""
    import sys, time
    import django
    django.setup()
    from polyflow.models import PipelineRun
    from polyflow.scheduler.tick import tick
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tick()
        if not PipelineRun.objects.exclude(status__in=["succeeded", "failed", "stopped"]).exists():
            break
        time.sleep(0.01)
""")


@pytest.mark.django_db(transaction=True)
def test_overlapping_ticks_submit_each_attempt_once(tmp_path):
    log = tmp_path / "executions.log"
    owner = get_user_model().objects.create_user("racer")
    project = create_project(owner, "race")
    # `b` fails its first attempt, so second attempts are raced as well.
    pipeline = apply_text(project, f"""\
version: 1
kind: pipeline
name: race
ops:
  - {{name: a, template: {{name: t}}}}
  - {{name: b, template: {{name: t}}, dependencies: [a], max_retries: 1, retry_delay: 0}}
  - {{name: c, template: {{name: t}}, dependencies: [b]}}
templates:
  - kind: job
    name: t
    container:
      image: busybox
      command: [sh, -c, 'echo "$POLYFLOW_RUN_UUID $POLYFLOW_OP_NAME $POLYFLOW_ATTEMPT" >> {log};
                test "$POLYFLOW_OP_NAME-$POLYFLOW_ATTEMPT" != b-1']
""").pipelines[0][0]
    runs = [trigger_run(pipeline) for _ in range(50)]
    settings = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POLYFLOW_")},
        "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings",
        "DATABASE_URL": f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:"
                        f"{settings['PORT'] or 5432}/{settings['NAME']}",
        "POLYFLOW_HOME": str(tmp_path / "home"),
        "POLYFLOW_SECRET_KEY": "race",
    }
    tickers = [subprocess.Popen([sys.executable, "-c", TICKER], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    errors = [ticker.communicate(timeout=120)[1] for ticker in tickers]
    assert all(ticker.returncode == 0 for ticker in tickers), errors
    assert set(PipelineRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)) == {
        "succeeded"}
    executions = Counter(log.read_text().splitlines())
    assert len(executions) == 50 * 4  # a, b twice, c
    assert set(executions.values()) == {1}, [line for line, n in executions.items() if n > 1]
