"""The host platform's settings: its own apps, with Polyflow added (README, "Plugging
into a host Django project"). Deployment values come from the environment:
DATABASE_URL, CELERY_BROKER_URL and POLYFLOW_HOME (where the local backend runs ops)."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "host-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "rest_framework.authtoken",  # Polyflow's API takes tokens (POLYFLOW["AUTHENTICATION_CLASSES"])
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "workspaces",  # the host's app, with its project model
    "polyflow",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "host.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: the tests log in often

# The host's API: Basic authentication, staff only. Polyflow's API declares its own
# classes (tokens and sessions, any signed-in user), so these do not reach it.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.BasicAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}

# Polyflow: the host's project model, and only the keys the host changes.
POLYFLOW_PROJECT_MODEL = "workspaces.Project"
POLYFLOW = {
    "HOME": os.environ.get("POLYFLOW_HOME", str(BASE_DIR / "var")),
    "TICK_INTERVAL": 1,
}

# Celery (host/celery.py reads CELERY_*): the host's own beat entry; Polyflow's is merged in there.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {"host-cleanup": {"task": "host.cleanup", "schedule": 3600.0}}
CELERY_BEAT_SCHEDULE_FILENAME = str(Path(POLYFLOW["HOME"]) / "celerybeat-schedule")

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/platform/static/"
