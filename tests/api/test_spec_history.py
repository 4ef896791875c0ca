"""The history of a pipeline's applied specs (issue 14, item 1): kept at every apply that changes
the text, listed newest first by the API."""

from __future__ import annotations

from tests.api.conftest import pipeline_yaml


def test_every_changed_text_is_a_version_and_the_same_text_is_none(world, alice_api):
    # `train` was applied once by the fixture: version 1.
    listed = alice_api.get("alice/vision/pipelines/train/specs/").json()
    assert [item["version"] for item in listed["results"]] == [1]
    assert listed["results"][0]["content"] == pipeline_yaml("train")
    changed = pipeline_yaml("train").replace("default: 3", "default: 4")
    assert alice_api.put("alice/vision/pipelines/train/", yaml=changed).status_code == 200
    assert alice_api.put("alice/vision/pipelines/train/", yaml=changed).status_code == 200  # no change: none
    mona = world.api("mona")
    assert mona.put("alice/vision/pipelines/train/", yaml=pipeline_yaml("train")).status_code == 200
    results = world.api("vera").get("alice/vision/pipelines/train/specs/").json()["results"]
    assert [(item["version"], item["created_by"]) for item in results] == [(3, "mona"), (2, "alice"), (1, None)]
    assert results[1]["content"] == changed and results[0]["content"] == pipeline_yaml("train")
    assert world.api("sam").get("alice/vision/pipelines/train/specs/").status_code == 404
    assert alice_api.get("alice/vision/pipelines/nope/specs/").status_code == 404
