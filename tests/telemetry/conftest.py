import io
import json
import logging

import pytest

from polyflow.telemetry import instruments
from polyflow.telemetry.logs import adopt


@pytest.fixture
def recorded():
    """Metrics recorded in this process for the test (as `polyflow server` records them)."""
    instruments.enable()
    return instruments


class Captured:
    """What Polyflow logged, through a handler set up as `polyflow server` sets up its own."""

    def __init__(self, fmt: str):
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        adopt(self.handler, fmt)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def capture_logs():
    made = []
    polyflow = logging.getLogger("polyflow")
    level = polyflow.level

    def start(fmt: str = "json", level_: int = logging.DEBUG) -> Captured:
        captured = Captured(fmt)
        polyflow.addHandler(captured.handler)
        polyflow.setLevel(level_)
        made.append(captured)
        return captured

    yield start
    for captured in made:
        polyflow.removeHandler(captured.handler)
    polyflow.setLevel(level)


@pytest.fixture
def env(tmp_path):
    """A fresh shell's environment for the real `polyflow` command, on SQLite in tmp_path."""
    from tests.backends.support import stop_runner_servers
    from tests.conftest import clean_environ

    yield {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}
    stop_runner_servers(tmp_path / "polyflow" / "runs")
