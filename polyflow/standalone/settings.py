"""Settings of the standalone project, all taken from the environment.

- ``POLYFLOW_<KEY>`` for every key of ``polyflow.conf.DEFAULTS`` (``POLYFLOW_HOME``,
  ``POLYFLOW_BACKEND``, ...).
- ``DATABASE_URL``: a database URL (``postgres://user@host:5432/name``); unset
  means SQLite at ``$POLYFLOW_HOME/polyflow.sqlite3``.
- ``CELERY_BROKER_URL``: a broker URL (``redis://127.0.0.1:6379/0``); unset means
  no broker (only the Celery worker needs one).
- ``POLYFLOW_SECRET_KEY``: unset means a random key kept in
  ``$POLYFLOW_HOME/secret_key`` (created on first use, mode 0600).
- ``POLYFLOW_DEBUG`` (default false), ``POLYFLOW_ALLOWED_HOSTS`` (comma-separated,
  default ``localhost,127.0.0.1,[::1]``).
"""

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from polyflow.conf import DEFAULTS, parse_bool, settings_from_environ
from polyflow.standalone.components import INSTALLED_APPS, MIDDLEWARE, REST_FRAMEWORK, TEMPLATES  # noqa: F401

POLYFLOW = settings_from_environ(os.environ)
# With a broker, runs created by requests go to a worker at once (not at the next beat).
if os.environ.get("CELERY_BROKER_URL"):
    POLYFLOW.setdefault("WAKE_WORKERS", True)

_home = Path(POLYFLOW.get("HOME", DEFAULTS["HOME"])).expanduser()


def _make_home() -> None:
    # 0700: the directory holds the secret key and, with SQLite, all the data.
    _home.mkdir(mode=0o700, parents=True, exist_ok=True)


def _persistent_secret_key(path: Path) -> str:
    if not path.exists():
        _make_home()
        # Write a complete file under a temporary name, then link it into place:
        # the link fails if a concurrent first run won, and nobody ever reads a
        # half-written key. mkstemp creates the file with mode 0600.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(50) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new key generated")
    return key


SECRET_KEY = os.environ.get("POLYFLOW_SECRET_KEY") or _persistent_secret_key(_home / "secret_key")

try:
    DEBUG = parse_bool(os.environ.get("POLYFLOW_DEBUG", "false"))
except ValueError:
    raise ImproperlyConfigured(
        f"POLYFLOW_DEBUG={os.environ['POLYFLOW_DEBUG']!r}: expected a boolean"
    ) from None

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("POLYFLOW_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]



ROOT_URLCONF = "polyflow.standalone.urls"
WSGI_APPLICATION = "polyflow.standalone.wsgi.application"


if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    _make_home()
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_home / "polyflow.sqlite3"),
            # The server, the scheduler and local op runs write concurrently:
            # WAL lets readers go on during a write, IMMEDIATE takes the write
            # lock at BEGIN (so waiting honours the timeout instead of failing
            # with "database is locked" mid-transaction).
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Celery, for `celery -A polyflow.standalone worker --beat` (polyflow/standalone/celery.py).
# Only the worker reads these: the CLI and the server need no broker. Ticks
# return nothing anyone waits for, so there is no result backend; acks_late is
# set on the tick task itself. The beat keeps its state file in POLYFLOW_HOME
# rather than in the working directory.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(_home / "celerybeat-schedule")


USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True

STATIC_URL = "static/"
STATIC_ROOT = str(_home / "static")
