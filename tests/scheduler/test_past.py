"""depends_on_past (DESIGN section 4): op X of slot k waits for op X of slot k-1."""

import pytest

from polyflow.scheduler.past import held_by_past


def message(status):
    return f"waiting for op 'a' of the previous slot's run ({status})"


def test_no_previous_run_holds_nothing():
    # The first slot, or a manual or event run.
    assert held_by_past(["a", "b"], {"a": True, "b": True}, None) == {}


@pytest.mark.parametrize("status", ["succeeded", "skipped"])
def test_a_previous_success_or_skip_lets_it_run(status):
    assert held_by_past(["a"], {"a": True}, {"a": status}) == {}


@pytest.mark.parametrize("status", ["failed", "upstream_failed", "stopped", "running", "retrying", "created"])
def test_anything_else_holds_it(status):
    assert held_by_past(["a"], {"a": True}, {"a": status}) == {"a": message(status)}


def test_only_ops_that_depend_on_past_and_existed_before_are_held():
    held = held_by_past(["a", "b", "new"], {"a": True, "b": False, "new": True}, {"a": "failed", "b": "failed"})
    assert held == {"a": message("failed")}
