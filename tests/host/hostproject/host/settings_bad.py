"""The host's settings gone wrong, for the system check's tests: a project model that
misses Polyflow's contract (HOST_PROJECT_MODEL, default badprojects.Project), an
authentication class that does not exist, TokenAuthentication without its app."""

import os

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS, POLYFLOW

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "rest_framework.authtoken"] + ["badprojects"]
POLYFLOW_PROJECT_MODEL = os.environ.get("HOST_PROJECT_MODEL", "badprojects.Project")
POLYFLOW = {**POLYFLOW, "AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication",
                                                   "host.auth.NoSuchAuthentication"]}
