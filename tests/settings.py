"""Settings for the test suite: PostgreSQL, as in production.

DATABASE_URL overrides the database; pytest-django creates and drops
``test_<name>`` (here ``test_polyflow``) around the run.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url

from polyflow.standalone.components import INSTALLED_APPS, MIDDLEWARE, REST_FRAMEWORK, TEMPLATES  # noqa: F401

SECRET_KEY = "polyflow-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/polyflow")
    )
}
# One test database per test process, so that two runs on one machine (a
# developer's and CI's, or parallel sessions) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}



ROOT_URLCONF = "polyflow.standalone.urls"


# Only a path: nothing is created here until a test writes into it. Per process,
# so parallel runs do not share run directories.
POLYFLOW = {"HOME": str(Path(tempfile.gettempdir()) / f"polyflow-tests-{os.getpid()}")}


PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
