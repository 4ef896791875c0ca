"""Concurrency limits: pipeline run, op across runs, global MAX_CONCURRENCY."""

from polyflow.scheduler.limits import Candidate, admit

GLOBAL = "waiting: 3 op runs are running (MAX_CONCURRENCY)"
RUN = "waiting: the pipeline's concurrency of 2 is reached in this run"
OP = "waiting: op 'train' has concurrency 1 across runs"


def candidate(key, run="r1", pipeline="p", op=None, run_limit=None, op_limit=None):
    return Candidate(key, run, pipeline, op or key, run_limit, op_limit)


def test_no_limits_admits_everything_in_order():
    candidates = [candidate(key) for key in ("c", "a", "b")]
    assert admit(candidates, {}, {}, 100, 0) == (["c", "a", "b"], {})  # 0: no global limit


def test_pipeline_concurrency_counts_the_run_s_running_op_runs():
    candidates = [candidate(key, run_limit=2) for key in ("a", "b", "c")]
    assert admit(candidates, {"r1": 1}, {}, 1, 0) == (["a"], {"b": RUN, "c": RUN})
    # Another run has its own room.
    others = [candidate("a", run_limit=2), candidate("x", run="r2", run_limit=2), candidate("b", run_limit=2)]
    assert admit(others, {"r1": 1}, {}, 1, 0) == (["a", "x"], {"b": RUN})


def test_op_concurrency_counts_across_runs_of_the_pipeline():
    candidates = [
        candidate(1, run="r1", op="train", op_limit=1),
        candidate(2, run="r2", op="train", op_limit=1),
        candidate(3, run="r3", pipeline="q", op="train", op_limit=1),  # another pipeline's op
        candidate(4, run="r2", op="eval"),
    ]
    assert admit(candidates, {}, {}, 0, 0) == ([1, 3, 4], {2: OP})
    assert admit(candidates, {}, {("p", "train"): 1}, 1, 0) == ([3, 4], {1: OP, 2: OP})


def test_global_limit_counts_everything_running_and_is_reported_first():
    candidates = [candidate(key, run_limit=2) for key in ("a", "b", "c")]
    assert admit(candidates, {}, {}, 2, 3) == (["a"], {"b": GLOBAL, "c": GLOBAL})
    assert admit(candidates, {"r1": 2}, {}, 3, 3) == ([], {"a": GLOBAL, "b": GLOBAL, "c": GLOBAL})
    assert admit(candidates, {"r1": 2}, {}, 3, 0) == ([], {"a": RUN, "b": RUN, "c": RUN})


def test_a_held_candidate_takes_no_room():
    candidates = [
        candidate("a", op="train", op_limit=1),
        candidate("b", run="r2", op="train", op_limit=1),
        candidate("c", run="r2"),
    ]
    assert admit(candidates, {}, {}, 0, 2) == (["a", "c"], {"b": OP})
