"""The one error shape, for every kind of 4xx, and inputs that must never give a 500."""

import pytest
import requests

from tests.api.conftest import assert_error, pipeline_yaml


def test_no_credentials_is_401_with_a_token_challenge(world):
    body = assert_error(world.api(None).get("alice/vision/"), 401, "not_authenticated")
    assert body["errors"] == []


def test_a_wrong_token_is_401(world):
    api = world.api(None)
    api.session.headers["Authorization"] = "Token not-a-real-token"
    assert_error(api.get("alice/vision/"), 401, "authentication_failed")
    api.session.headers["Authorization"] = "Token"
    assert_error(api.get("alice/vision/"), 401, "authentication_failed")


def test_session_authentication_works_too(world):
    session = requests.Session()
    login = world.live_server.url + "/admin/login/"
    session.get(login)
    session.post(login, data={"username": "root", "password": "pw",
                              "csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": login})
    response = session.get(world.live_server.url + "/api/v1/alice/vision/")
    assert response.status_code == 200, response.text
    # Unsafe methods need the CSRF token with a session.
    assert_error(session.post(world.live_server.url + "/api/v1/alice/vision/pipelines/train/pause/"), 403,
                 "permission_denied")


def test_paths_that_are_no_endpoint(alice_api):
    body = assert_error(alice_api.get("alice/vision/nothing/here/"), 404, "not_found")
    assert "no API endpoint" in body["message"]
    body = assert_error(alice_api.get("alice/vision"), 404, "not_found")
    assert "end with '/'" in body["message"]
    assert_error(alice_api.get("alice/vision/runs/%00/"), 404, "not_found")
    assert_error(alice_api.get("alice%00/projects/"), 404, "not_found")
    assert_error(alice_api.delete("alice/vision/runs/x/ops/y/z/"), 404, "not_found")


def test_method_not_allowed(alice_api):
    body = assert_error(alice_api.delete("alice/vision/runs/"), 405, "method_not_allowed")
    assert "DELETE" in body["message"]


def test_not_acceptable(alice_api):
    assert_error(alice_api.get("alice/vision/", headers={"Accept": "text/html"}), 406, "not_acceptable")


def test_too_large_body_is_413(alice_api, settings):
    settings.POLYFLOW = {**settings.POLYFLOW, "MAX_REQUEST_BYTES": 1000}
    text = pipeline_yaml("big") + "# " + "x" * 1000 + "\n"
    assert_error(alice_api.post("alice/vision/pipelines/", yaml=text), 413, "too_large")
    assert_error(alice_api.post("alice/vision/pipelines/", json={"content": text}), 413, "too_large")


@pytest.mark.parametrize(("text", "status"), [
    ('version: 1\nkind: pipeline\nname: x\ndescription: "a\\0b"\nops: []\n', 422),
    ('version: 1\nkind: pipeline\nname: x\ndescription: "\\ud800"\nops: []\n', 422),
    ("version: 1\nkind: pipeline\nname: x\ndescription: " + "9" * 5000 + "\nops: []\n", 422),
    ("[" * 5000, 422),
    ("version: 1\nkind: pipeline\nname: x\ntags: [.inf]\nops: []\n", 422),
    ("- &a [1, 2]\n- *a\n", 422),  # YAML, but no pipeline document
    ("!!python/object/apply:os.system ['true']\n", 422),
    ("\x00", 422),
])
def test_odd_yaml_is_refused(alice_api, text, status):
    assert_error(alice_api.post("alice/vision/pipelines/", yaml=text), status)


def test_bodies_in_other_charsets(alice_api):
    text = pipeline_yaml("latin").replace("version: 1", "version: 1\ndescription: caf\u00e9")
    response = alice_api.post("alice/vision/pipelines/", data=text.encode("latin-1"),
                              headers={"Content-Type": "text/yaml; charset=latin-1"})
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "caf\u00e9"
    # A charset that does not exist is ignored, as Django does: UTF-8.
    response = alice_api.post("alice/vision/pipelines/", data=b"{}",
                              headers={"Content-Type": "application/json; charset=nope"})
    assert_error(response, 400, "invalid")


def test_options_and_head_do_not_fail(alice_api):
    response = alice_api.request("OPTIONS", "alice/vision/pipelines/")
    assert response.status_code == 200, response.text
    assert "application/x-yaml" in response.json()["parses"]
    assert alice_api.request("HEAD", "alice/vision/").status_code == 200


def test_healthz_needs_no_credentials(live_server):
    assert requests.get(live_server.url + "/healthz", timeout=10).json() == {"status": "ok"}


def test_unknown_body_fields_are_refused_naming_them(alice_api):
    body = assert_error(alice_api.post("alice/vision/pipelines/train/runs/", json={"parms": {"fit": {"size": 2}}}),
                        400, "invalid")
    assert body["errors"] == [{"source": "body", "path": "parms",
                               "message": "unknown field 'parms'; did you mean 'params'? (fields: params, no_cache)"}]
    body = assert_error(alice_api.post("alice/projects/", json={"name": "q", "owner": "bob"}), 400, "invalid")
    assert [error["path"] for error in body["errors"]] == ["owner"]
    assert "unknown field 'owner'" in body["errors"][0]["message"]
    assert alice_api.get("alice/q/").status_code == 404  # nothing was created


def test_a_key_given_twice_is_refused(alice_api):
    response = alice_api.post("alice/projects/", data='{"name": "a", "name": "b"}',
                              headers={"Content-Type": "application/json"})
    body = assert_error(response, 400)
    assert "duplicate key 'name'" in body["message"]


@pytest.mark.parametrize("query", ["page_size=null", "page_size=0", "page=x", "page_size=2&page_size=3",
                                   "page=1&page=2"])
def test_page_and_page_size_are_whole_numbers_given_once(alice_api, query):
    body = assert_error(alice_api.get(f"alice/projects/?{query}"), 400, "invalid")
    assert body["errors"][0]["source"] == "query"
    assert body["errors"][0]["path"] == query.split("=")[0]


def test_a_project_name_longer_than_a_label_is_refused(alice_api):
    body = assert_error(alice_api.post("alice/projects/", json={"name": "a" * 64}), 400, "invalid")
    assert body["errors"][0]["message"] == f"{'a' * 64!r} is too long for a name (64 characters, at most 63)"


def test_an_empty_query_value_is_refused_not_read_as_absent(alice_api):
    body = assert_error(alice_api.get("alice/vision/runs/?pipeline="), 400, "invalid")
    assert (body["errors"][0]["source"], body["errors"][0]["path"]) == ("query", "pipeline")
    assert_error(alice_api.get("alice/vision/runs/?ordering="), 400, "invalid")


def test_members_answers_the_schema_allows(alice_api):
    assert_error(alice_api.post("alice/vision/members/", json={"user": "nobody", "role": "member"}), 404, "not_found")
    before = alice_api.get("alice/vision/members/ed/").json()
    response = alice_api.patch("alice/vision/members/ed/", json={})  # a PATCH of nothing changes nothing
    assert (response.status_code, response.json()) == (200, before)


def test_an_alias_bomb_is_a_400_at_once(alice_api):
    from tests.bombs import alias_bomb

    text = "version: 1\nkind: pipeline\nname: bomb\nops: []\nx:\n" + alias_bomb(indent="  ")
    body = assert_error(alice_api.post("alice/vision/pipelines/", yaml=text), 422, "invalid_spec")
    assert "more than the limit of 1,000,000 (POLYFLOW['MAX_EXPANDED_NODES'])" in body["errors"][0]["message"]
