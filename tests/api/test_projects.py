"""Projects and their members."""

import re

from polyflow.models import Project, ProjectMember
from tests.api.conftest import assert_error

ISO_WITH_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_create_read_update_delete(alice_api):
    response = alice_api.post("alice/projects/", json={"name": "nlp", "description": "words"})
    assert response.status_code == 201, response.text
    project = response.json()
    assert {key: project[key] for key in ("owner", "name", "description")} == {
        "owner": "alice", "name": "nlp", "description": "words"}
    assert ISO_WITH_ZONE.match(project["created_at"]), project["created_at"]

    assert alice_api.get("alice/nlp/").json() == project

    response = alice_api.patch("alice/nlp/", json={"name": "language", "description": "more words"})
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["description"]) == ("language", "more words")
    assert_error(alice_api.get("alice/nlp/"), 404, "not_found")

    assert alice_api.delete("alice/language/").status_code == 204
    assert not Project.objects.filter(name="language").exists()
    assert_error(alice_api.get("alice/language/"), 404)


def test_list_is_paginated(alice_api):
    for index in range(3):
        alice_api.post("alice/projects/", json={"name": f"p{index}"})
    page = alice_api.get("alice/projects/", params={"page_size": 2}).json()
    assert page["count"] == 5  # with vision and scratch
    assert [project["name"] for project in page["results"]] == ["p0", "p1"]
    assert page["previous"] is None
    page = alice_api.get(page["next"].split("/api/v1/", 1)[1]).json()
    assert [project["name"] for project in page["results"]] == ["p2", "scratch"]
    assert_error(alice_api.get("alice/projects/", params={"page": 9}), 404, "not_found")


def test_an_unknown_owner_answers_like_one_with_nothing_to_show(world, alice_api):
    """User names cannot be found out: `nobody` (no such user) and `sam` (a user whose projects
    alice may not see) get the same answers."""
    for owner in ("nobody", "sam"):
        response = alice_api.get(f"{owner}/projects/")
        assert (response.status_code, response.json()["results"]) == (200, [])
        assert_error(alice_api.post(f"{owner}/projects/", json={"name": "x"}), 403, "permission_denied")
    assert_error(world.api("root").post("nobody/projects/", json={"name": "x"}), 404, "not_found")  # staff


def test_invalid_names_are_400_with_the_path(alice_api):
    body = assert_error(alice_api.post("alice/projects/", json={"name": "Not_A_Label"}), 400, "invalid")
    assert [error["path"] for error in body["errors"]] == ["name"]
    body = assert_error(alice_api.post("alice/projects/", json={"description": "no name"}), 400, "invalid")
    assert body["errors"] == [{"source": "body", "path": "name", "message": "This field is required."}]
    body = assert_error(alice_api.post("alice/projects/", json={"name": 5}), 400, "invalid")
    assert [error["path"] for error in body["errors"]] == ["name"]


def test_reserved_names(alice_api):
    for name in ("projects", "actions", "events"):
        body = assert_error(alice_api.post("alice/projects/", json={"name": name}), 400, "invalid")
        assert "reserved" in body["message"]


def test_duplicate_is_409(alice_api):
    assert_error(alice_api.post("alice/projects/", json={"name": "vision"}), 409, "conflict")
    assert_error(alice_api.patch("alice/scratch/", json={"name": "vision"}), 409, "conflict")


def test_delete_with_active_runs_is_409(alice_api):
    assert_error(alice_api.delete("alice/vision/"), 409, "conflict")


def test_members(world, alice_api):
    members = alice_api.get("alice/vision/members/").json()
    assert [(m["user"], m["role"]) for m in members["results"]] == [
        ("ed", "viewer"), ("mona", "member"), ("vera", "viewer")]

    response = alice_api.post("alice/vision/members/", json={"user": "newbie"})
    assert response.status_code == 201, response.text
    assert (response.json()["user"], response.json()["role"]) == ("newbie", "viewer")
    assert world.api("newbie").get("alice/vision/").status_code == 200
    assert_error(world.api("newbie").post("alice/vision/pipelines/train/pause/"), 403, "permission_denied")

    response = alice_api.patch("alice/vision/members/newbie/", json={"role": "member"})
    assert response.json()["role"] == "member"
    assert world.api("newbie").post("alice/vision/pipelines/train/pause/").status_code == 200

    assert alice_api.delete("alice/vision/members/newbie/").status_code == 204
    assert not ProjectMember.objects.filter(user__username="newbie").exists()
    assert_error(world.api("newbie").get("alice/vision/"), 404, "not_found")


def test_member_errors(alice_api):
    assert_error(alice_api.post("alice/vision/members/", json={"user": "vera"}), 409, "conflict")
    body = assert_error(alice_api.post("alice/vision/members/", json={"user": "ghost"}), 404, "not_found")
    assert body["errors"][0]["path"] == "user"
    body = assert_error(alice_api.post("alice/vision/members/", json={"user": "newbie", "role": "boss"}), 400)
    assert body["errors"][0]["path"] == "role"
    assert_error(alice_api.post("alice/vision/members/", json={"user": "alice"}), 400, "invalid")
    assert_error(alice_api.get("alice/vision/members/ghost/"), 404, "not_found")
    assert_error(alice_api.patch("alice/vision/members/ghost/", json={"role": "member"}), 404, "not_found")
    assert_error(alice_api.delete("alice/vision/members/ghost/"), 404, "not_found")
