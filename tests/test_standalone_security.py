"""The standalone project's web security settings (polyflow/standalone/settings.py,
docs/security.md): password validators, headers, cookies, HSTS, static files
through WhiteNoise, the secret key never shown. Real subprocesses, each with the
environment it is given."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import requests

from tests.backends.support import stop_runner_servers
from tests.conftest import ROOT, LineReader, assert_no_traceback, polyflow, run_python

# Django's test client against the standalone project: what a browser would get.
RESPONSE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client
response = Client(HTTP_HOST="localhost").get(sys.argv[1])
cookie = response.cookies.get("csrftoken")
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.headers),
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "hsts": settings.SECURE_HSTS_SECONDS,
}))
"""
PASSWORD_PROBLEMS = """
import json
import django
django.setup()
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import ValidationError
problems = {}
for password in ("alice", "password123", "12345678901", "a-long-and-unusual-one"):
    try:
        validate_password(password, User(username="alice", email="alice@example.com"))
        problems[password] = []
    except ValidationError as error:
        problems[password] = [e.code for e in error.error_list]
print(json.dumps(problems))
"""


def standalone(env, **variables):
    return {**env, "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings", **variables}


def response(env, path="/admin/login/", **variables):
    result = run_python("-c", RESPONSE, path, env=standalone(env, **variables))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_password_validators_are_on(polyflow_env):
    result = run_python("-c", PASSWORD_PROBLEMS, env=standalone(polyflow_env))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "alice": ["password_too_similar", "password_too_short", "password_too_common"],
        "password123": ["password_too_common"],
        "12345678901": ["password_too_common", "password_entirely_numeric"],
        "a-long-and-unusual-one": [],
    }


def expect(fd: int, text: str, timeout: float = 60) -> str:
    """What the terminal showed up to and including `text`."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} on the terminal within {timeout} s: {seen.decode(errors='replace')}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other end closed: the process ended
                chunk = b""
            assert chunk, f"the process ended before {text!r}: {seen.decode(errors='replace')}"
            seen += chunk
    return seen.decode(errors="replace")


def test_createsuperuser_refuses_alice_for_alice(polyflow_env):
    assert polyflow("runs", "list", env=polyflow_env).returncode == 0  # the database, made in one step
    # On a terminal, as a person types it (Django reads passwords from the tty only).
    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing of pytest's may run here
        try:
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "polyflow.cli", "manage", "createsuperuser",
                                       "--username", "alice", "--email", "alice@example.com"], polyflow_env)
        finally:
            os._exit(127)
    try:
        expect(fd, "Password: ")
        os.write(fd, b"alice\n")
        expect(fd, "Password (again): ")
        os.write(fd, b"alice\n")
        refused = expect(fd, "Bypass password validation and create user anyway? [y/N]: ")
        os.write(fd, b"N\n")
        expect(fd, "Password: ")  # asked again
        os.write(fd, b"\x03")  # Ctrl-C
        expect(fd, "Operation cancelled.")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert "The password is too similar to the username." in refused
    assert "This password is too short." in refused
    assert os.waitstatus_to_exitcode(status) == 1
    count = polyflow("manage", "shell", "-c", "from django.contrib.auth.models import User; "
                     "print('users:', User.objects.count())", env=polyflow_env)
    assert "users: 0" in count.stdout, count.stdout + count.stderr


def test_a_laptop_gets_the_headers_and_plain_http_cookies(polyflow_env):
    got = response(polyflow_env)
    assert got["status"] == 200
    headers = got["headers"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    # polyflow server on http://127.0.0.1: a Secure cookie would never come back, and no log-in would work.
    assert (got["csrf_cookie_secure"], got["session_cookie_secure"], got["hsts"]) == (False, False, 0)
    assert "Strict-Transport-Security" not in headers


def test_https_gets_secure_cookies_and_hsts_when_asked(polyflow_env):
    got = response(polyflow_env, POLYFLOW_HTTPS="true")
    assert (got["csrf_cookie_secure"], got["session_cookie_secure"], got["hsts"]) == (True, True, 0)
    got = response(polyflow_env, POLYFLOW_HTTPS="true", POLYFLOW_HSTS_SECONDS="3600")
    assert got["hsts"] == 3600
    # Sent on HTTPS requests only; this one is plain HTTP (TLS ends in front of the server).
    assert "Strict-Transport-Security" not in got["headers"]


def test_deploy_checks_find_no_cookie_or_hsts_problem_with_https(polyflow_env):
    env = standalone(polyflow_env, POLYFLOW_HTTPS="true", POLYFLOW_HSTS_SECONDS="31536000",
                     POLYFLOW_SECRET_KEY="a" * 10 + "b" * 10 + "c" * 10 + "d" * 10 + "e" * 10 + "f" * 10)
    result = polyflow("manage", "check", "--deploy", env=env)
    found = set(re.findall(r"\(security\.(W\d+)\)", result.stdout + result.stderr))
    # Left: W008 (SECURE_SSL_REDIRECT: the proxy's job), W005/W021 (HSTS for subdomains and the
    # preload list: the domain owner's choice, not Polyflow's).
    assert found <= {"W005", "W008", "W021"}, result.stdout + result.stderr


def test_bad_security_values_are_one_line(polyflow_env):
    for variables, message in (
        ({"POLYFLOW_HTTPS": "maybe"}, "Error: POLYFLOW_HTTPS='maybe': expected a boolean"),
        ({"POLYFLOW_HSTS_SECONDS": "3600"}, "Error: POLYFLOW_HSTS_SECONDS=3600: expected 0 or more seconds, and "
                                            "POLYFLOW_HTTPS=true with more than 0"),
        ({"POLYFLOW_HTTPS": "1", "POLYFLOW_HSTS_SECONDS": "1y"},
         "Error: POLYFLOW_HSTS_SECONDS='1y': expected a number of seconds"),
    ):
        result = polyflow("runs", "list", env={**polyflow_env, **variables})
        assert_no_traceback(result)
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_the_server_serves_static_files_through_whitenoise_and_never_shows_the_secret_key(polyflow_env):
    env = {**polyflow_env, "POLYFLOW_SECRET_KEY": "never-shown-" + "k" * 40}
    process = subprocess.Popen([sys.executable, "-m", "polyflow.cli", "server", "--port", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = LineReader(process.stdout), LineReader(process.stderr)
    try:
        banner = stdout.until(r"^Ctrl-C stops the server\.", timeout=60)
        url = re.search(r"serving (http://127\.0\.0\.1:\d+)/", banner).group(1)
        static = requests.get(f"{url}/static/admin/css/base.css", timeout=10)
        assert static.status_code == 200
        assert "max-age" in static.headers["Cache-Control"]  # WhiteNoise's, not Django's serve view
        assert static.headers["X-Content-Type-Options"] == "nosniff"
        assert requests.get(f"{url}/static/polyflow/ui/ui.js", timeout=10).status_code == 200
        assert requests.get(f"{url}/static/nope.css", timeout=10).status_code == 404
        assert requests.get(f"{url}/static/../settings.py", timeout=10).status_code in (400, 404)
        page = requests.get(f"{url}/admin/login/", timeout=10)
        assert page.headers["X-Frame-Options"] == "DENY"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
    shown = banner + stdout.rest() + stderr.rest()
    assert "never-shown-" not in shown
    assert "Traceback" not in shown, shown


PRINT_ENV = """\
version: 1
kind: pipeline
name: printenv
ops: [{name: show, template: {name: show}}]
templates:
  - {kind: job, name: show, container: {image: busybox, command: [env]}}
"""


def test_local_ops_never_get_the_secret_key(polyflow_env, tmp_path):
    spec = tmp_path / "printenv.yaml"
    spec.write_text(PRINT_ENV)
    env = {**polyflow_env, "POLYFLOW_SECRET_KEY": "never-shown-" + "k" * 40}
    try:
        result = polyflow("run", str(spec), env=env)
    finally:
        stop_runner_servers(tmp_path / "polyflow" / "runs")
    assert result.returncode == 0, result.stdout + result.stderr
    (log,) = (tmp_path / "polyflow" / "runs").glob("printenv-show-*/output.log")
    printed = log.read_text()
    assert "POLYFLOW_HOME=" in printed  # the op printed its environment, the submitter's
    assert "never-shown-" not in printed + result.stdout + result.stderr
