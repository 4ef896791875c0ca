"""Remote mode: the command line against a Polyflow server over its REST API (docs/cli.md, "Remote mode").

The server and token come from `--server`/`--token`, else POLYFLOW_SERVER/POLYFLOW_TOKEN, else the
file `polyflow login` writes; with none, commands use the database. Imported only by the commands
that have a remote variant, once they run: nothing here loads Django.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path
from types import SimpleNamespace

import click

API = "/api/v1/"
TOKEN = "token/"  # POST a username and password: their API token (polyflow login)
TIMEOUT = 30  # seconds for one request
# Runs read per page while looking for a prefix (the API's largest page).
PAGE = 1000
_HEX = re.compile(r"[0-9a-f]+")
LATEST = "@latest"
# How many runs an ambiguous prefix lists (polyflow.selectors.lookup.MATCHES_SHOWN).
MATCHES_SHOWN = 10


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "polyflow" / "credentials.json"


def read_credentials() -> dict:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot read {path} (written by `polyflow login`): {error}") from None
    return data if isinstance(data, dict) else {}


def write_credentials(server: str, token: str) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 from the start: the token is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"server": server, "token": token}, file, indent=2)
        file.write("\n")
    os.chmod(path, 0o600)  # a file that existed keeps its mode through O_CREAT
    return path


def normalize(server: str) -> str:
    """`http://host:8000`, given with or without a trailing / or /api/v1/."""
    server = server.strip().rstrip("/")
    if server.endswith(API.rstrip("/")):
        server = server[: -len(API.rstrip("/"))]
    if not re.match(r"https?://[^/]", server):
        raise click.UsageError(f"--server {server!r}: expected an http:// or https:// URL")
    return server


def client() -> Client | None:
    """The server to use (option > environment > `polyflow login`'s file), or None for the database.

    An empty --server or POLYFLOW_SERVER says "the database", whatever comes after it.
    """
    root = click.get_current_context().find_root().params
    server = root.get("server")
    if server is None:
        server = os.environ.get("POLYFLOW_SERVER")
    stored = read_credentials() if server is None or not (root.get("token") or os.environ.get("POLYFLOW_TOKEN")) \
        else {}
    if server is None:
        server = stored.get("server")
    if not server or not server.strip():
        return None
    server = normalize(server)
    token = root.get("token") or os.environ.get("POLYFLOW_TOKEN")
    # The stored token goes only to the server it was stored for.
    if not token and stored.get("server") and normalize(stored["server"]) == server:
        token = stored.get("token")
    return Client(server, token)


class Client:
    def __init__(self, server: str, token: str | None):
        self.server = server
        self.token = token
        self._user = None

    def url(self, path: str) -> str:
        return self.server + API + path

    def request(self, method: str, path: str, *, params=None, body=None, refused: str | None = None):
        """The answer's JSON; the API's error as `Error: message` (and `path: message` lines), exit 1.

        `refused`: a 422 listing invalid input is shown as a service's refusal of input is in database
        mode (one `path: message` line per problem, then `refused`), exit 1.
        """
        import requests

        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        try:
            answer = requests.request(method, self.url(path), params=params, json=body, headers=headers,
                                      timeout=TIMEOUT)
        except requests.RequestException as error:
            raise click.ClickException(f"cannot reach the Polyflow server at {self.server}: {_reason(error)}") \
                from None
        if answer.status_code < 400:
            try:
                return answer.json() if answer.content else None
            except ValueError:
                raise click.ClickException(f"{self.server} answered {method} {API}{path} with no JSON: is it a "
                                           "Polyflow server?") from None
        try:
            error = answer.json()
        except ValueError:
            error = {}
        if not isinstance(error, dict) or "message" not in error:
            raise click.ClickException(f"the server at {self.server} answered {answer.status_code} "
                                       f"{answer.reason} to {method} {API}{path}")
        if answer.status_code == 401 and path != TOKEN:  # the token endpoint's 401 is a wrong password
            raise click.ClickException(f"{error['message']} (server {self.server}): log in with `polyflow login "
                                       f"--server {self.server}`, or give a token (--token, POLYFLOW_TOKEN)")
        problems = [item for item in error.get("errors") or [] if isinstance(item, dict)]
        lines = [": ".join(part for part in (item.get("path"), item.get("message")) if part) for item in problems]
        if refused and answer.status_code == 422 and lines:
            for line in lines:
                click.echo(line, err=True)
            click.echo(refused, err=True)
            raise SystemExit(1)
        # A single invalid field's message is `path: message` already: not said twice.
        lines = [line for line in lines if line != error["message"]]
        raise click.ClickException("\n".join([error["message"], *lines]))

    def get(self, path: str, **params):
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body=None, *, refused: str | None = None):
        return self.request("POST", path, body=body, refused=refused)

    def user(self) -> str:
        """Who the token is: the API's index answers it (a bad token: 401)."""
        if self._user is None:
            index = self.get("")
            if not index.get("user"):
                raise click.ClickException(f"no credentials for {self.server}: log in with `polyflow login "
                                           f"--server {self.server}`, or give a token (--token, POLYFLOW_TOKEN)")
            self._user = index["user"]
        return self._user

    def all_pages(self, path: str, limit: int | None = None, **params) -> list:
        """The results of a list, page after page, at most `limit` of them."""
        results, page = [], 1
        size = min(limit or PAGE, PAGE)
        while True:
            answer = self.get(path, page=page, page_size=size, **params)
            results.extend(answer["results"])
            if not answer.get("next") or (limit is not None and len(results) >= limit):
                return results[:limit] if limit is not None else results
            page += 1


def _reason(error) -> str:
    """The innermost reason of a failed connection (`Connection refused`), not urllib3's whole chain."""
    text = str(error)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return found[-1].strip() if found else text.splitlines()[0]


# -- what the commands name ----------------------------------------------------


def project_path(project: tuple[str, str]) -> str:
    return f"{project[0]}/{project[1]}/"


def needs_project(what: str, option: str = "--project OWNER/PROJECT") -> click.ClickException:
    return click.ClickException(f"{what}: against a server, name the project with {option} (the API finds "
                                "runs and pipelines by project)")


def resolve_run(api: Client, ref: str, project: tuple[str, str] | None) -> dict:
    """The run RUN names, as the API's JSON (with its op runs): the rules of the database mode
    (polyflow.selectors.lookup.resolve_run), among the runs the token sees (in `project` when given).
    PIPELINE@latest needs the project: a pipeline's name alone may be in several."""
    text = ref.strip()
    if text.endswith(LATEST):
        parts = [part for part in text[: -len(LATEST)].split("/")] if text != LATEST else []
        if project is not None and len(parts) <= 1:
            parts = [*project, *parts]
        if any(not part for part in parts) or len(parts) > 3:
            raise click.ClickException(f"run {ref!r} not found: expected @latest, PIPELINE@latest, "
                                       "OWNER/PROJECT@latest or OWNER/PROJECT/PIPELINE@latest")
        if len(parts) == 1:
            raise needs_project(f"run {ref!r}", f"--project OWNER/PROJECT (or OWNER/PROJECT/{text.lstrip('@')})")
        if not parts:
            # The newest run of every project the token sees, as the database mode's of the database.
            path, what = "runs/", "the database"
        elif len(parts) == 2:
            path, what = f"{parts[0]}/{parts[1]}/runs/", f"project {parts[0]}/{parts[1]}"
            api.get(f"{parts[0]}/{parts[1]}/")  # an unknown project: the API's 404, not "no runs"
        else:
            path, what = f"{parts[0]}/{parts[1]}/pipelines/{parts[2]}/runs/", f"pipeline {'/'.join(parts)}"
        found = api.get(path, page_size=1, ordering="-created_at")["results"]
        if not found:
            raise click.ClickException(f"run {ref!r} not found: {what} has no runs")
        return found[0]
    digits = text.lower().replace("-", "")
    if not digits or not _HEX.fullmatch(digits) or len(digits) > 32:
        raise click.ClickException(f"run {ref!r} not found: expected a UUID, a prefix of one (e.g. ed2298c4) "
                                   "or @latest (PIPELINE@latest, OWNER/PROJECT@latest)")
    where = f" in project {project[0]}/{project[1]}" if project is not None else ""
    if project is not None:
        api.get(project_path(project))  # an unknown project: the API's 404, not "no runs"
    # The API finds runs by the start of their UUID, in a project or in every project the token sees.
    found = api.get(f"{project_path(project)}runs/" if project is not None else "runs/", uuid=digits,
                    page_size=MATCHES_SHOWN + 1, ordering="-created_at")["results"]
    if not found:
        if len(digits) == 32:
            raise click.ClickException(f"run {uuid.UUID(digits)} not found{where}")
        raise click.ClickException(f"run {ref!r} not found: no run's UUID{where} starts with {digits}")
    if len(found) > 1:
        listed = "; ".join(f"{run['uuid']} ({run['owner']}/{run['project']}/{run['pipeline']}, {run['status']})"
                           for run in found[:MATCHES_SHOWN])
        more = " and more" if len(found) > MATCHES_SHOWN else ""
        raise click.ClickException(f"run prefix {ref!r} is ambiguous: it matches {listed}{more}; "
                                   "give more of the UUID")
    return found[0]


def run_api_path(run: dict) -> str:
    return f"{run['owner']}/{run['project']}/runs/{run['uuid']}/"


# -- the API's JSON as the objects the formatters read -------------------------


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class _Owner(SimpleNamespace):
    def get_username(self) -> str:
        return self.username


def op_run_object(data: dict) -> SimpleNamespace:
    """An op run of the API as the attributes of the model that the formatters read."""
    fields = {name: data.get(name) for name in ("name", "status", "reason", "message", "attempt", "params",
                                                 "outputs", "exit_code", "backend", "handle", "metrics",
                                                 "trial", "trial_params", "summary")}
    for name in ("retry_at", "created_at", "started_at", "finished_at"):
        fields[name] = _time(data.get(name))
    fields["label"] = data["name"] if data.get("trial") is None else f"{data['name']}[{data['trial']}]"
    return SimpleNamespace(**fields)


def run_object(data: dict) -> SimpleNamespace:
    """A run of the API as the attributes of the model that the formatters read; `pk`: its UUID."""
    owner = _Owner(username=data["owner"])
    fields = {name: data.get(name) for name in ("trigger", "params", "status", "reason", "message",
                                                 "scheduler_error")}
    for name in ("schedule_at", "created_at", "started_at", "finished_at", "scheduler_error_at"):
        fields[name] = _time(data.get(name))
    return SimpleNamespace(
        pk=data["uuid"], uuid=uuid.UUID(data["uuid"]),
        pipeline=SimpleNamespace(name=data["pipeline"], project=SimpleNamespace(name=data["project"], owner=owner)),
        **fields)


def ops_and_trials(data: dict) -> tuple[list, dict[str, list], set[str]]:
    """The run's ops in order (a group is one), each group's trials, and the matrix ops (those with trials)."""
    ops, trials = [], {}
    for op in data.get("op_runs", []):
        ops.append(op_run_object(op))
        if op.get("trials"):
            trials[op["name"]] = [op_run_object(trial) for trial in op["trials"]]
    return ops, trials, set(trials)


def op_counts(data: dict) -> dict[str, int]:
    """{status: how many ops} of a run (a group counts once), as polyflow.selectors.runs.op_status_counts."""
    counts: dict[str, int] = {}
    for op in data.get("op_runs", []):
        counts[op["status"]] = counts.get(op["status"], 0) + 1
    return counts


def pipeline_object(data: dict, plan: dict | None = None) -> SimpleNamespace:
    fields = {name: data.get(name) for name in ("name", "description", "is_paused", "runs_created",
                                                 "slots_dropped", "schedule_done", "scheduler_error")}
    for name in ("next_slot_at", "scheduler_error_at", "created_at", "updated_at"):
        fields[name] = _time(data.get(name))
    return SimpleNamespace(project=SimpleNamespace(name=data["project"], owner=_Owner(username=data["owner"])),
                           plan=plan if plan is not None else data.get("plan") or {}, **fields)
