"""Airflow's REST API (v2, Airflow 3) as the Airflow backend uses it, over the standard library.

- Authentication: a JWT from `POST /auth/token` with AIRFLOW_USERNAME and AIRFLOW_PASSWORD
  (Airflow's simple and FAB auth managers both serve it), kept per process and taken again
  when the API answers 401 (tokens expire).
- Every request goes through `call`: connection errors, timeouts and 5xx are retried
  (three tries within about a second); what still fails is an `AirflowError` naming the
  request, the HTTP status and Airflow's own `detail`, marked retryable or not.
- 404 and 409 are answers, not failures, for the requests that expect them (`missing_ok`,
  `conflict_ok`): a DAG not parsed yet, a DAG run handed over twice.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

RETRYABLE = frozenset({429, 500, 502, 503, 504})
TRIES = 3
# Airflow answers a list with at most this many entries per page (its `maximum_page_limit`).
PAGE = 100


class AirflowError(Exception):
    def __init__(self, what: str, status: int, detail: str = "", retryable: bool = False):
        self.what, self.status, self.detail, self.retryable = what, status, detail, retryable
        text = f"Airflow API {what}: " + (f"HTTP {status}" if status else "no answer")
        if detail:
            text += f": {detail}"
        super().__init__(text)


class Missing:
    """The answer to a request made with `missing_ok` that found nothing (HTTP 404)."""

    def __bool__(self) -> bool:
        return False


MISSING = Missing()


class Client:
    def __init__(self, url: str, username: str, password: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.username, self.password, self.timeout = username, password, timeout
        self._token = ""
        self._lock = threading.Lock()

    # -- the requests the backend makes -------------------------------------------
    def dag(self, dag_id: str):
        return self.call("GET", f"/api/v2/dags/{_q(dag_id)}", missing_ok=True)

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{_q(dag_id)}", {"is_paused": False})

    def import_errors(self, filename: str) -> list[str]:
        """The stack traces Airflow recorded for a DAG file it could not import."""
        found = self.call("GET", "/api/v2/importErrors", params={"limit": PAGE,
                                                                 "filename_pattern": filename.rsplit("/", 1)[-1]})
        return [entry.get("stack_trace", "") for entry in found.get("import_errors", ())
                if str(entry.get("filename", "")).endswith(filename.rsplit("/", 1)[-1])]

    def trigger(self, dag_id: str, run_id: str, logical_date: str | None, conf: Mapping) -> bool:
        """Create the DAG run; False when it exists already (409)."""
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": dict(conf)}
        return self.call("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", body, conflict_ok=True) is not None

    def dag_run(self, dag_id: str, run_id: str):
        return self.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", missing_ok=True)

    def set_dag_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", {"state": state})

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1) -> None:
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
        self.call("PATCH", path + (f"/{map_index}" if map_index >= 0 else ""), {"new_state": state})

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances"
        found: list[dict] = []
        while True:
            page = self.call("GET", path, params={"limit": PAGE, "offset": len(found)})
            entries = page.get("task_instances", [])
            found += entries
            if not entries or len(found) >= page.get("total_entries", 0):
                return found

    def task_instances_of(self, dag_ids: list[str], run_ids: list[str]) -> list[dict]:
        """The task instances of many DAG runs in one paged request (`dag_ids` x `run_ids`)."""
        found: list[dict] = []
        while True:
            page = self.call("POST", "/api/v2/dags/~/dagRuns/~/taskInstances/list",
                             {"dag_ids": dag_ids, "dag_run_ids": run_ids, "page_limit": PAGE,
                              "page_offset": len(found), "order_by": "id"})
            entries = page.get("task_instances", [])
            found += entries
            if not entries or len(found) >= page.get("total_entries", 0):
                return found

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.call("GET", path, missing_ok=True)

    def xcom_keys(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[str]:
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/xcomEntries"
        found = self.call("GET", path, params={"map_index": map_index, "limit": PAGE}, missing_ok=True)
        return [entry["key"] for entry in (found or {}).get("xcom_entries", ())]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1):
        """The value of one XCom entry as the task pushed it (JSON), or MISSING."""
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/xcomEntries/{_q(key)}"
        found = self.call("GET", path, params={"map_index": map_index, "deserialize": "true",
                                               "stringify": "false"}, missing_ok=True)
        return found.get("value") if found else MISSING

    def log_events(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                   map_index: int = -1) -> list[tuple[str, str]]:
        """The attempt's log as (time, text) events, Airflow 3's structured log (its grouping
        markers left out); a multi-line event is one line each."""
        path = (f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
                f"/logs/{int(try_number)}")
        found = self.call("GET", path, params={"map_index": map_index, "full_content": "true"}, missing_ok=True)
        events = []
        for entry in (found or {}).get("content", ()):
            event = entry.get("event", "") if isinstance(entry, dict) else str(entry)
            if not isinstance(event, str) or event.startswith(("::group::", "::endgroup::")):
                continue
            stamp = (entry.get("timestamp") if isinstance(entry, dict) else None) or ""
            events += [(stamp, line) for line in event.splitlines() or [""]]
        return events

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Airflow's clear: the tasks run again in their DAG run (the run is queued again)."""
        self.call("POST", f"/api/v2/dags/{_q(dag_id)}/clearTaskInstances",
                  {"dag_run_id": run_id, "task_ids": task_ids, "dry_run": False, "only_failed": False,
                   "reset_dag_runs": True, "include_downstream": False, "include_upstream": False})

    # -- plumbing -------------------------------------------------------------------
    def token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or not self._token:
                answer = self._send("POST", "/auth/token", {"username": self.username, "password": self.password},
                                    token=None, what="POST /auth/token")
                token = answer.get("access_token") if isinstance(answer, dict) else None
                if not token:
                    raise AirflowError("POST /auth/token", 200, "the answer carries no access_token")
                self._token = token
            return self._token

    def call(self, method: str, path: str, body: Mapping | None = None, *, params: Mapping | None = None,
             missing_ok: bool = False, conflict_ok: bool = False, accept: str = "application/json"):
        what = f"{method} {path}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        renewed = False
        delay = 0.2
        for attempt in range(1, TRIES + 1):
            try:
                return self._send(method, path, body, token=self.token(), what=what, accept=accept)
            except AirflowError as error:
                if error.status == 401 and not renewed:
                    renewed = True
                    self.token(renew=True)
                    continue
                if error.status == 404 and missing_ok:
                    return MISSING
                if error.status == 409 and conflict_ok:
                    return None
                if not error.retryable or attempt == TRIES:
                    raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body, *, token: str | None, what: str, accept: str = "application/json"):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            raise AirflowError(what, error.code, _detail(error.read()), retryable=error.code in RETRYABLE) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise AirflowError(what, 0, f"{self.url}: {reason}", retryable=True) from None
        if "json" in kind:
            try:
                return json.loads(raw or b"null")
            except ValueError:
                raise AirflowError(what, 200, "the answer is not JSON", retryable=True) from None
        return raw.decode("utf-8", "replace")


def _q(part: str) -> str:
    return urllib.parse.quote(str(part), safe="")


def _detail(raw: bytes) -> str:
    """Airflow's reason, from its JSON error body (`detail`: text, or FastAPI's list of problems)."""
    text = raw.decode("utf-8", "replace")[:2000]
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}"
                         if isinstance(item, dict) else str(item) for item in detail)
    if isinstance(detail, dict):
        return detail.get("reason") or json.dumps(detail)[:500]
    return str(detail)
