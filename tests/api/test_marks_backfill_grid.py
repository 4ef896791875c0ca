"""Mark, backfill, the grid, attempts and the API's index over real HTTP (issue 14)."""

import datetime as dt

import pytest
import requests

from polyflow.services.apply import apply_text
from tests.api.conftest import assert_error

SCHEDULED = """\
version: 1
kind: pipeline
name: nightly
schedule: {kind: interval, frequency: 3600, start_at: '2026-01-01T00:00:00Z', max_active_runs: 2}
ops:
  - {name: a, template: {name: t}}
templates:
  - {kind: job, name: t, container: {image: busybox, command: ['true']}}
"""


def mark_path(world, op="prepare"):
    return f"alice/vision/runs/{world.active_run.uuid}/ops/{op}/mark/"


def test_a_member_marks_an_op_with_a_reason_recorded_with_their_name(world):
    api = world.api("mona")
    response = api.post(mark_path(world), json={"status": "skipped", "reason": "not needed today"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["status"], body["reason"], body["message"]) == (
        "prepare", "skipped", "marked", "not needed today")
    assert body["run"] == str(world.active_run.uuid)
    history = api.get(f"alice/vision/runs/{world.active_run.uuid}/ops/prepare/statuses/").json()["results"]
    assert (history[-1]["status"], history[-1]["reason"], history[-1]["message"], history[-1]["user"]) == (
        "skipped", "marked", "not needed today", "mona")
    assert history[0]["user"] is None
    # A re-mark of the final op run, without a reason.
    again = api.post(mark_path(world), json={"status": "succeeded"}).json()
    assert (again["status"], again["message"]) == ("succeeded", "marked succeeded by mona")


@pytest.mark.parametrize("who, status", [("vera", 403), ("sam", 404), (None, 401)])
def test_mark_needs_the_member_role(world, who, status):
    response = world.api(who).post(mark_path(world), json={"status": "succeeded"})
    assert_error(response, status)
    assert world.active_run.op_runs.get(name="prepare").status == "created"


@pytest.mark.parametrize("body, path", [
    ({"status": "running"}, "status"),
    ({"status": "succeeded", "reson": "x"}, "reson"),
    ({"status": "succeeded", "reason": "x" * 1001}, "reason"),
    ({"status": "succeeded", "reason": 5}, "reason"),
    ({}, "status"),
])
def test_mark_refuses_bodies_the_schema_rules_out(alice_api, world, body, path):
    error = assert_error(alice_api.post(mark_path(world), json=body), 400, "invalid")
    assert [item["path"] for item in error["errors"]] == [path]


def test_mark_of_an_unknown_op_names_the_ops(alice_api, world):
    error = assert_error(alice_api.post(mark_path(world, "nope"), json={"status": "failed"}), 404)
    assert "(ops: prepare, fit)" in error["message"]


def test_op_runs_show_every_attempt_with_its_duration(alice_api, world):
    run = alice_api.get(f"alice/vision/runs/{world.active_run.uuid}/").json()
    op = run["op_runs"][0]
    assert op["duration"] is None
    assert op["attempts"] == [{"attempt": 1, "status": "created", "reason": "", "started_at": None,
                               "finished_at": None, "duration": None}]
    detail = alice_api.get(f"alice/vision/runs/{world.active_run.uuid}/ops/prepare/").json()
    assert detail["attempts"] == op["attempts"]


def test_backfill_over_http(world, alice_api):
    apply_text(world.project, SCHEDULED)
    body = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T03:00:00Z"}
    assert_error(world.api("vera").post("alice/vision/pipelines/nightly/backfill/", json=body), 403)
    assert_error(world.api("sam").post("alice/vision/pipelines/nightly/backfill/", json=body), 404)
    response = world.api("mona").post("alice/vision/pipelines/nightly/backfill/", json=body)
    assert response.status_code == 201, response.text
    runs = response.json()
    assert [run["schedule_at"] for run in runs] == ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z",
                                                   "2026-01-01T02:00:00Z"]
    assert {(run["trigger"], run["status"], run["created_by"]) for run in runs} == {("backfill", "created", "mona")}
    assert len(runs[0]["op_runs"]) == 1
    # The slots have runs now: nothing more to make.
    assert alice_api.post("alice/vision/pipelines/nightly/backfill/", json=body).json() == []
    error = assert_error(alice_api.post("alice/vision/pipelines/train/backfill/", json=body), 422)
    assert "has no schedule" in error["message"]
    error = assert_error(alice_api.post("alice/vision/pipelines/nightly/backfill/",
                                        json={"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}), 422)
    assert "holds 1416 slots" in error["message"] and "at most 1000" in error["message"]
    assert_error(alice_api.post("alice/vision/pipelines/nightly/backfill/", json={"start": "2026-01-01"}), 400)


def test_the_grid_of_recent_runs(world, alice_api):
    assert_error(world.api("sam").get("alice/vision/pipelines/train/grid/"), 404)
    grid = world.api("vera").get("alice/vision/pipelines/train/grid/").json()
    assert grid["ops"] == ["prepare", "fit"]
    assert [run["uuid"] for run in grid["runs"]] == [str(world.active_run.uuid), str(world.stopped_run.uuid)]
    assert grid["runs"][1]["ops"] == {"prepare": "stopped", "fit": "stopped"}
    assert set(grid["runs"][0]) == {"uuid", "created_at", "schedule_at", "status", "trigger", "ops"}
    assert len(alice_api.get("alice/vision/pipelines/train/grid/", params={"limit": 1}).json()["runs"]) == 1
    assert_error(alice_api.get("alice/vision/pipelines/train/grid/", params={"limit": 0}), 400)


def test_the_api_index_and_the_site_root(world):
    body = world.api("alice").get("").json()
    base = world.live_server.url
    assert body["links"] == {"schema": f"{base}/api/v1/schema/", "docs": f"{base}/api/v1/docs/",
                             "projects": f"{base}/api/v1/alice/projects/"}
    assert body["user"] == "alice" and body["api"] == "v1" and body["version"]
    anonymous = world.api(None).get("").json()
    assert anonymous["links"]["projects"] is None and anonymous["user"] is None
    root = requests.get(base + "/", allow_redirects=False, timeout=10)
    assert root.status_code == 302 and root.headers["Location"] == "/ui/"


def test_backfill_times_without_a_zone_are_utc(world, alice_api):
    apply_text(world.project, SCHEDULED)
    response = alice_api.post("alice/vision/pipelines/nightly/backfill/",
                              json={"start": "2026-01-01T00:00:00", "end": "2026-01-01T01:00:00"})
    assert response.status_code == 201, response.text
    assert [run["schedule_at"] for run in response.json()] == ["2026-01-01T00:00:00Z"]
    assert dt.datetime.fromisoformat(response.json()[0]["created_at"])
