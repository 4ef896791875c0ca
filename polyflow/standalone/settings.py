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
- ``POLYFLOW_HTTPS`` (default false), ``POLYFLOW_HSTS_SECONDS`` (default 0),
  ``POLYFLOW_CSRF_TRUSTED_ORIGINS`` (comma-separated): see Security below.

What the default install lacks is said at once, in one line naming the extra to
install (polyflow/extras.py): ``DATABASE_URL=postgres://...`` needs ``postgres``,
``CELERY_BROKER_URL`` needs ``celery``, ``POLYFLOW_BACKEND=kubernetes`` needs
``kubernetes``. Nothing of theirs is imported here.

Security (docs/security.md, "The standalone project's web settings"):

- Always, laptop or production: Django's password validators (a password like
  the user name, short, common or all digits is refused by ``createsuperuser``
  and ``changepassword``); ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``,
  ``Cross-Origin-Opener-Policy: same-origin``; HttpOnly session cookies;
  static files from the installed packages through WhiteNoise (no
  ``collectstatic``, nothing outside the static directories).
- ``POLYFLOW_HTTPS=true``, for a server its users reach over HTTPS (TLS ended by
  a reverse proxy or an ingress): the session and CSRF cookies are ``Secure``,
  sent over HTTPS only. Off by default, because ``polyflow server`` on a laptop
  is plain ``http://127.0.0.1:8000``, where a browser never sends such cookies
  back (the admin's and the dashboard's log-in would fail). The header
  settings above do not depend on it, nor on ``POLYFLOW_DEBUG``.
- ``POLYFLOW_HSTS_SECONDS=N`` (needs ``POLYFLOW_HTTPS``): Strict-Transport-Security
  for N seconds, on responses to requests Django sees as HTTPS. Off unless asked:
  a browser then refuses plain HTTP to that host for N seconds.
- ``POLYFLOW_CSRF_TRUSTED_ORIGINS=https://polyflow.example.com``: the origins of
  forms posted through a proxy that talks plain HTTP to the server (Django
  compares a POST's Origin with the scheme it sees).
- The secret key is never printed: not by ``polyflow server``'s banner, not in
  a log line, not in an error; Django's error pages leave it out.
"""

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from polyflow.conf import DEFAULTS, parse_bool, settings_from_environ
from polyflow.extras import check
from polyflow.standalone.components import INSTALLED_APPS, MIDDLEWARE, REST_FRAMEWORK, TEMPLATES  # noqa: F401


def _env_bool(name: str, default: str = "false") -> bool:
    try:
        return parse_bool(os.environ.get(name, default))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={os.environ[name]!r}: expected a boolean") from None


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


POLYFLOW = settings_from_environ(os.environ)
# With a broker, runs created by requests go to a worker at once (not at the next beat).
if os.environ.get("CELERY_BROKER_URL"):
    check("celery", "celery", what="CELERY_BROKER_URL (Celery workers, and handing runs to them)")
    POLYFLOW.setdefault("WAKE_WORKERS", True)
if POLYFLOW.get("BACKEND") == "kubernetes":
    check("kubernetes", "kubernetes", what="the kubernetes backend")

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

DEBUG = _env_bool("POLYFLOW_DEBUG")
ALLOWED_HOSTS = _env_list("POLYFLOW_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

# -- web security: the module docstring says who gets what ----------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
_https = _env_bool("POLYFLOW_HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _https
try:
    SECURE_HSTS_SECONDS = int(os.environ.get("POLYFLOW_HSTS_SECONDS", "0"))
except ValueError:
    raise ImproperlyConfigured(
        f"POLYFLOW_HSTS_SECONDS={os.environ['POLYFLOW_HSTS_SECONDS']!r}: expected a number of seconds"
    ) from None
if SECURE_HSTS_SECONDS < 0 or (SECURE_HSTS_SECONDS and not _https):
    raise ImproperlyConfigured(
        f"POLYFLOW_HSTS_SECONDS={SECURE_HSTS_SECONDS}: expected 0 or more seconds, and POLYFLOW_HTTPS=true "
        "with more than 0 (HSTS makes browsers refuse plain HTTP to this host)"
    )
CSRF_TRUSTED_ORIGINS = _env_list("POLYFLOW_CSRF_TRUSTED_ORIGINS")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in ("UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                 "NumericPasswordValidator")
]


ROOT_URLCONF = "polyflow.standalone.urls"
WSGI_APPLICATION = "polyflow.standalone.wsgi.application"


if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
    if DATABASES["default"]["ENGINE"].rpartition(".")[2] in ("postgresql", "postgis"):
        # Django takes psycopg (3) or psycopg2, whichever is there.
        check("postgres", "psycopg", "psycopg2", what="PostgreSQL (DATABASE_URL)")
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

# Served by WhiteNoise (components.MIDDLEWARE) from the installed packages' static
# directories, found once at start-up: the standalone project needs no
# `collectstatic` and no web server in front for them.
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True
