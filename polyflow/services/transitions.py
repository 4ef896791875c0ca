"""The single transition function (DESIGN sections 1 and 5).

Every status change of a run or op run goes through `transition`: a
conditional UPDATE (`WHERE status IN allowed sources`) of the rows that may
move, and one history row per row that moved. Rows in any other status are
left alone and not returned, so doing the same transition twice (overlapping
ticks, a redelivered task) changes nothing the second time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from ..models import OperationRun, OperationRunStatus, PipelineRun, PipelineRunStatus
from ..statuses import (
    OP_FINAL,
    OP_MARK_SOURCES,
    OP_MARKS,
    OP_RETRY_SOURCES,
    OP_TRANSITIONS,
    RUN_FINAL,
    RUN_MARK_SOURCES,
    RUN_RETRY_SOURCES,
    RUN_TRANSITIONS,
    OpStatus,
    RunStatus,
    allowed_sources,
)


@dataclass(frozen=True)
class _Kind:
    model: type
    history: type
    history_fk: str
    table: Mapping[str, frozenset[str]]
    retry_sources: frozenset[str]
    final: frozenset[str]
    started: str  # the status that sets started_at
    has_attempts: bool
    mark_sources: frozenset[str]
    marks: frozenset[str]  # what an explicit mark may set


_OP = _Kind(OperationRun, OperationRunStatus, "op_run", OP_TRANSITIONS, OP_RETRY_SOURCES, OP_FINAL,
            OpStatus.RUNNING, True, OP_MARK_SOURCES, OP_MARKS)
_RUN = _Kind(PipelineRun, PipelineRunStatus, "run", RUN_TRANSITIONS, RUN_RETRY_SOURCES, RUN_FINAL,
             RunStatus.RUNNING, False, RUN_MARK_SOURCES, RUN_FINAL)

# A past attempt as `OperationRun.attempts` keeps it, from the row's fields before the next
# attempt clears them (in an UPDATE, `t.<column>` is the value before it). A retrying op run's
# attempt failed: its status is `retrying` only while it waits for the next one.
_PAST_ATTEMPT_SQL = (
    "COALESCE(t.{col}, '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
    "'attempt', t.attempt, 'status', CASE WHEN t.status = 'retrying' THEN 'failed' ELSE t.status END, "
    "'reason', t.reason, 'started_at', t.started_at, 'finished_at', t.finished_at))")


def transition(
    rows: PipelineRun | OperationRun | Iterable[int],
    to_status: str,
    *,
    model: type | None = None,
    reason: str = "",
    message: str = "",
    explicit_retry: bool = False,
    now=None,
    updates: Mapping[str, object] | None = None,
    per_row: Mapping[int, Mapping[str, object]] | None = None,
    next_attempt: bool = False,
    explicit_mark: bool = False,
    user=None,
) -> list[int]:
    """Move rows to `to_status` where the table allows it; return the ids that moved.

    `rows` is one run or op run, or ids of `model`. `updates` are extra fields
    written with the status to every row; `per_row` maps an id to fields of
    that row alone (outputs, exit codes), still in one UPDATE. `next_attempt`
    counts one more attempt (retrying -> scheduled). An explicit retry moves
    final rows back to `created`, clears their times and, for op runs, starts
    the next attempt. An explicit mark (services.runs.mark_op_run) sets a final status from
    any status but those handed to a backend, keeping the time the attempt finished, if it
    had. `user` is recorded on the history rows (who asked).
    """
    if isinstance(rows, PipelineRun | OperationRun):
        model, ids = type(rows), [rows.pk]
    else:
        ids = list(rows)
    kind = _OP if model is OperationRun else _RUN
    if not ids:
        return []
    if explicit_mark and to_status not in kind.marks:
        raise ValueError(f"an explicit mark sets one of {sorted(kind.marks)}, not {to_status!r}")
    sources = allowed_sources(kind.table, kind.retry_sources, to_status, explicit_retry,
                              mark_sources=kind.mark_sources if explicit_mark else None)
    now = now or timezone.now()
    user_id = getattr(user, "pk", user)
    fields = {"status": to_status, "reason": reason, "message": message, "updated_at": now}
    if to_status == kind.started and kind is _RUN:
        # Never before the run was created: a run created while a tick (whose `now`
        # was taken at its start) was under way starts when it was created.
        fields["started_at"] = _Expr("COALESCE(t.{col}, GREATEST(%s, t.created_at))", [now],
                                     Coalesce(F("started_at"), Greatest(Value(now), F("created_at"))))
    elif to_status == kind.started:
        fields["started_at"] = _Expr("COALESCE(t.{col}, %s)", [now], Coalesce(F("started_at"), now))
    if explicit_mark:
        fields["finished_at"] = _Expr("COALESCE(t.{col}, %s)", [now], Coalesce(F("finished_at"), now))
    elif to_status in kind.final or (kind.has_attempts and to_status == OpStatus.RETRYING):
        # A retrying op run's attempt has ended (the backend's own end time, when it told one,
        # comes with the change's fields and wins).
        fields["finished_at"] = now
    if explicit_retry:
        fields.update(started_at=None, finished_at=None)
        if kind.has_attempts:
            # A group's account and the metrics of the attempt before are the past's.
            fields.update(outputs={}, exit_code=None, handle="", retry_at=None, metrics={}, metrics_cursor="",
                          summary={})
            next_attempt = True
    if next_attempt:
        fields.update(attempt=_Expr("t.{col} + 1", [], F("attempt") + 1), started_at=None, finished_at=None)
        if kind.has_attempts:
            fields["attempts"] = _Expr(_PAST_ATTEMPT_SQL, [], None)  # portable: per row, below
    fields.update(updates or {})
    requested = {pk: per_row[pk] for pk in ids if pk in per_row} if per_row else {}
    common, varying = _split_per_row(requested, len(ids)) if requested else ({}, {})
    fields.update(common)
    # No savepoint: inside a tick's transaction it would cost two more queries
    # per transition, and a failure here aborts the caller's work anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            moved = _move_postgresql(kind, ids, sources, fields, with_history=not _varies(varying),
                                     history=(to_status, fields["reason"], fields["message"], now, next_attempt,
                                              user_id))
        else:
            moved = _move_portable(kind, ids, sources, fields, varying)
        if not moved:
            return []
        moved_ids = {row[0] for row in moved}
        varying = {pk: values for pk, values in varying.items() if pk in moved_ids}
        if varying and connection.vendor == "postgresql":
            _update_rows(kind.model, varying)
        if connection.vendor != "postgresql" or _varies(varying):
            kind.history.objects.bulk_create([
                _history(kind, row, to_status, requested.get(row[0], {}).get("reason", reason),
                         requested.get(row[0], {}).get("message", message), now, next_attempt, user_id)
                for row in moved
            ])
    return [row[0] for row in moved]


@dataclass(frozen=True)
class _Expr:
    """A value computed from the row itself, as SQL (`{col}` is the column) and as an ORM expression."""

    sql: str
    params: list
    orm: object


def _varies(varying: Mapping[int, Mapping[str, object]]) -> bool:
    """Whether history rows need their own reasons or messages."""
    return any("reason" in values or "message" in values for values in varying.values())


def _move_portable(kind: _Kind, ids, sources, fields: dict, varying) -> list[tuple]:
    """SELECT ... FOR UPDATE, then UPDATE the rows that may move (any database)."""
    locked = kind.model.objects.select_for_update().filter(pk__in=ids, status__in=sources)
    columns = ("pk", "status", "attempt") if kind.has_attempts else ("pk", "status")
    moved = list(locked.order_by("pk").values_list(*columns))
    if not moved:
        return []
    past = fields.pop("attempts", None) is not None
    values = {name: value.orm if isinstance(value, _Expr) else value for name, value in fields.items()}
    moved_ids = [row[0] for row in moved]
    varying = {pk: dict(row) for pk, row in varying.items() if pk in set(moved_ids)}
    if past:
        for pk, attempts in _past_attempts(kind.model, moved_ids).items():
            varying.setdefault(pk, {})["attempts"] = attempts
    if varying:
        values.update(_case_fields(kind.model, varying, values))
    kind.model.objects.filter(pk__in=moved_ids).update(**values)
    return moved


def _past_attempts(model, ids) -> dict[int, list]:
    """{pk: its attempts with the current one appended}, read before the row moves (any database)."""
    found = {}
    for pk, status, reason, started_at, finished_at, attempt, attempts in model.objects.filter(pk__in=ids).values_list(
            "pk", "status", "reason", "started_at", "finished_at", "attempt", "attempts"):
        found[pk] = [*(attempts or []), {
            "attempt": attempt, "status": OpStatus.FAILED.value if status == OpStatus.RETRYING else status,
            "reason": reason, "started_at": started_at and started_at.isoformat(),
            "finished_at": finished_at and finished_at.isoformat()}]
    return found


def _move_postgresql(kind: _Kind, ids, sources, fields: dict, with_history: bool, history) -> list[tuple]:
    """One statement: lock the rows that may move, update them, write their history, return them.

    The ORM would take three statements and most of a millisecond of Python to
    build them; a chain of ops makes two transitions per op.
    """
    model = kind.model
    table = connection.ops.quote_name(model._meta.db_table)
    assignments, params = [], []
    for name, value in fields.items():
        field = model._meta.get_field(name)
        column = connection.ops.quote_name(field.column)
        if isinstance(value, _Expr):
            assignments.append(f"{column} = {value.sql.format(col=column)}")
            params.extend(value.params)
        elif field.get_internal_type() == "JSONField":
            assignments.append(f"{column} = %s::jsonb")
            params.append(json.dumps(value, cls=DjangoJSONEncoder))
        else:
            assignments.append(f"{column} = %s")
            params.append(value)
    attempt = "attempt" if kind.has_attempts else "1 AS attempt"
    sql = (f"WITH old AS (SELECT id, status, {attempt} FROM {table} "
           f"WHERE id = ANY(%s) AND status = ANY(%s) ORDER BY id FOR UPDATE), "
           f"moved AS (UPDATE {table} AS t SET {', '.join(assignments)} FROM old WHERE t.id = old.id "
           f"RETURNING old.id, old.status, old.attempt)")
    all_params = [list(ids), list(sources)] + params
    if with_history:
        to_status, reason, message, now, next_attempt, user_id = history
        history_table = connection.ops.quote_name(kind.history._meta.db_table)
        fk = connection.ops.quote_name(kind.history._meta.get_field(kind.history_fk).column)
        user_column = connection.ops.quote_name(kind.history._meta.get_field("user").column)
        attempt_column = ", attempt" if kind.has_attempts else ""
        attempt_value = f", attempt + {1 if next_attempt else 0}" if kind.has_attempts else ""
        sql += (f", history AS (INSERT INTO {history_table} ({fk}, previous, status, reason, message, created_at, "
                f"{user_column}{attempt_column}) SELECT id, status, %s, %s, %s, %s, %s{attempt_value} FROM moved)")
        all_params += [to_status, reason, message, now, user_id]
    sql += " SELECT id, status, attempt FROM moved ORDER BY id"
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        rows = cursor.fetchall()
    return [tuple(row) if kind.has_attempts else tuple(row[:2]) for row in rows]


def _split_per_row(per_row: Mapping[int, Mapping[str, object]], count: int) -> tuple[dict, dict]:
    """Fields with one value for every moved row, and {pk: {field: value}} for the rest.

    Most transitions move one row, or rows that share most values; only what
    really differs by row needs the costlier per-row update.
    """
    names = {name for values in per_row.values() for name in values}
    common, varying = {}, defaultdict(dict)
    for name in names:
        values = [row[name] for row in per_row.values() if name in row]
        if len(values) == count and all(value == values[0] for value in values):
            common[name] = values[0]
        else:
            for pk, row in per_row.items():
                if name in row:
                    varying[pk][name] = row[name]
    return common, dict(varying)


def _case_fields(model, varying: Mapping[int, Mapping[str, object]], fields: Mapping) -> dict:
    """`field = CASE id WHEN 1 THEN v1 ... ELSE <common value> END` (portable, slower)."""
    result = {}
    for name in {name for row in varying.values() for name in row}:
        output_field = model._meta.get_field(name)
        whens = [When(pk=pk, then=Value(row[name], output_field=output_field))
                 for pk, row in varying.items() if name in row]
        default = fields[name] if name in fields else F(name)
        if not hasattr(default, "resolve_expression"):
            default = Value(default, output_field=output_field)
        result[name] = Case(*whens, default=default, output_field=output_field)
    return result


def _update_rows(model, varying: Mapping[int, Mapping[str, object]]) -> None:
    """PostgreSQL: one `UPDATE ... FROM unnest(arrays)` per set of fields, however many rows."""
    groups = defaultdict(dict)
    for pk, row in varying.items():
        groups[tuple(sorted(row))][pk] = row
    table = connection.ops.quote_name(model._meta.db_table)
    for names, rows in groups.items():
        columns, arrays, selects = [], [list(rows)], ["unnest(%s::bigint[]) AS id"]
        for index, name in enumerate(names):
            field = model._meta.get_field(name)
            column = connection.ops.quote_name(field.column)
            db_type = field.db_type(connection).split("(")[0]
            values = [row[name] for row in rows.values()]
            if db_type == "jsonb":
                values = [None if value is None else json.dumps(value, cls=DjangoJSONEncoder) for value in values]
                selects.append(f"unnest(%s::text[])::jsonb AS v{index}")
            else:
                selects.append(f"unnest(%s::{db_type}[]) AS v{index}")
            arrays.append(values)
            columns.append(f"{column} = v.v{index}")
        sql = (f"UPDATE {table} AS t SET {', '.join(columns)} "
               f"FROM (SELECT {', '.join(selects)}) AS v WHERE t.id = v.id")
        with connection.cursor() as cursor:
            cursor.execute(sql, arrays)


def _history(kind: _Kind, row, to_status, reason, message, now, next_attempt, user_id=None):
    values = {f"{kind.history_fk}_id": row[0], "previous": row[1], "status": to_status,
              "reason": reason, "message": message, "created_at": now, "user_id": user_id}
    if kind.has_attempts:
        values["attempt"] = row[2] + (1 if next_attempt else 0)
    return kind.history(**values)


def record_created(objects: Iterable[PipelineRun | OperationRun], now=None) -> None:
    """The first history row of new runs or op runs (their initial `created`)."""
    objects = list(objects)
    if not objects:
        return
    kind = _OP if isinstance(objects[0], OperationRun) else _RUN
    now = now or timezone.now()
    kind.history.objects.bulk_create([
        _history(kind, (obj.pk, "", getattr(obj, "attempt", 1)), obj.status, obj.reason, obj.message, now, False)
        for obj in objects
    ])
