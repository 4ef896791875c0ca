"""This process's counters and histograms: recorded only where they can be read, and added
up across processes in multiprocess mode (PROMETHEUS_MULTIPROC_DIR)."""

from prometheus_client.parser import text_string_to_metric_families

from polyflow.telemetry import exposition
from tests.conftest import run_python
from tests.test_cli_startup import LOADED, loaded, of


def test_a_tick_of_the_command_line_records_nothing_and_never_imports_prometheus_client(polyflow_env):
    modules = loaded(polyflow_env, "tick")
    assert "polyflow.scheduler.tick" in modules
    assert of(modules, "prometheus_client") == []


def test_in_multiprocess_mode_every_process_records_and_a_scrape_adds_them_up(polyflow_env, tmp_path, monkeypatch):
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**polyflow_env, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for _ in range(2):
        result = run_python("-c", LOADED, "tick", env=env)
        assert result.returncode == 0, result.stderr
    assert any(directory.iterdir())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    body, _ = exposition.render(database=False)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    # Two processes, one tick each: the scrape of a third process counts both.
    assert samples[("polyflow_tick_duration_seconds_count", (("kind", "tick"),))] == 2
