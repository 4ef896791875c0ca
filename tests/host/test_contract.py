"""What a host project must give Polyflow and what Polyflow declares for itself, in this
process (the test settings): the constraint on AbstractProject, the system checks on
real models that miss the contract, and the API's own authentication classes."""

import base64
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BasicAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAdminUser, IsAuthenticated

from polyflow.api.views.base import ApiView
from polyflow.checks import check_api_classes, check_project_model
from polyflow.conf import validate_settings
from polyflow.models import Project

BASIC = "rest_framework.authentication.BasicAuthentication"


def test_the_owner_name_constraint_comes_from_abstract_project():
    (constraint,) = Project._meta.constraints
    assert (constraint.name, constraint.fields) == ("polyflow_project_owner_name", ("owner", "name"))


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_checks_pass_polyflow_s_own_project_and_defaults():
    assert check_project_model() == []
    assert check_api_classes() == []


def test_the_check_refuses_project_models_that_miss_the_contract(settings):
    settings.POLYFLOW_PROJECT_MODEL = "auth.Permission"  # a `name`, but no owner
    (error,) = check_project_model()
    assert error.id == "polyflow.E002"
    assert error.msg == "POLYFLOW_PROJECT_MODEL auth.Permission has no `owner` foreign key"
    assert "AbstractProject" in error.hint
    settings.POLYFLOW_PROJECT_MODEL = "auth.User"  # neither
    assert ids(check_project_model()) == ["polyflow.E002", "polyflow.E003"]
    settings.POLYFLOW_PROJECT_MODEL = "polyflow.Nothing"
    (error,) = check_project_model()
    assert (error.id, error.msg) == ("polyflow.E001", "settings.POLYFLOW_PROJECT_MODEL = 'polyflow.Nothing' is not "
                                                      "an installed model")


def test_the_check_refuses_api_classes_that_cannot_be_imported(settings):
    settings.POLYFLOW = {**settings.POLYFLOW, "PERMISSION_CLASSES": ["rest_framework.permissions.NoSuchThing"]}
    (error,) = check_api_classes()
    assert error.id == "polyflow.E005"
    assert error.msg.startswith("POLYFLOW['PERMISSION_CLASSES'] names 'rest_framework.permissions.NoSuchThing', "
                                "which cannot be imported")


@pytest.mark.parametrize("value, problem", [
    ("rest_framework.authentication.TokenAuthentication", "expected a list"),
    (["rest_framework.authentication.TokenAuthentication", 3], "expected a list of dotted paths (strings)"),
    ([""], "expected a list of dotted paths (strings)"),
])
def test_api_classes_are_lists_of_dotted_paths(value, problem):
    with pytest.raises(ImproperlyConfigured, match=rf"\['AUTHENTICATION_CLASSES'\] = .*: {re.escape(problem)}$"):
        validate_settings({"AUTHENTICATION_CLASSES": value})


def test_the_api_s_classes_are_polyflow_s_not_drf_s_defaults(settings):
    # Token first: a request without credentials gets Token's challenge, a 401.
    assert ApiView.authentication_classes == [TokenAuthentication, SessionAuthentication]
    assert ApiView.permission_classes == [IsAuthenticated]
    # Read at each request, so a host's POLYFLOW (or a test's override) holds, whatever REST_FRAMEWORK says.
    settings.POLYFLOW = {**settings.POLYFLOW, "AUTHENTICATION_CLASSES": [BASIC],
                         "PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]}
    assert ApiView.authentication_classes == [BasicAuthentication]
    assert ApiView.permission_classes == [IsAdminUser]


@pytest.mark.django_db
def test_a_host_s_choice_of_classes_is_what_the_api_takes(settings, client):
    alice = get_user_model().objects.create_user("alice", password="pw", is_staff=True)
    token = Token.objects.create(user=alice).key
    basic = "Basic " + base64.b64encode(b"alice:pw").decode()
    url = "/api/v1/alice/projects/"
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION=basic).status_code == 401

    settings.POLYFLOW = {**settings.POLYFLOW, "AUTHENTICATION_CLASSES": [BASIC]}
    assert client.get(url, HTTP_AUTHORIZATION=basic).status_code == 200
    refused = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
    assert (refused.status_code, refused["WWW-Authenticate"]) == (401, 'Basic realm="api"')
