"""Each scheduler process's last tick: one row per process, one statement a beat, at most a
beat a second, rows of processes gone for a day removed."""

import datetime as dt
import os

from django.utils import timezone

from polyflow.models import SchedulerHeartbeat
from polyflow.scheduler.tick import tick
from polyflow.telemetry import heartbeat
from polyflow.telemetry.heartbeat import judge
from polyflow.testing.backends import InstantBackend

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def test_a_tick_records_this_process_once_in_one_statement(db, django_assert_num_queries, monkeypatch):
    heartbeat.reset()
    tick(backend=InstantBackend())  # the first beat of the process, which also prunes
    (row,) = SchedulerHeartbeat.objects.all()
    assert (row.pid, row.worker) == (os.getpid(), f"{row.host}:{os.getpid()}")
    assert row.tick_seconds > 0 and row.started_at <= row.ticked_at
    monkeypatch.setattr(heartbeat, "MIN_GAP", 0.0)  # as if a second had passed
    with django_assert_num_queries(1):
        assert heartbeat.beat(0.5)
    row.refresh_from_db()
    assert row.tick_seconds == 0.5
    # Within the second: no write at all.
    monkeypatch.setattr(heartbeat, "MIN_GAP", 1.0)
    with django_assert_num_queries(0):
        assert not heartbeat.beat(0.25)
    assert SchedulerHeartbeat.objects.count() == 1


def test_the_first_beat_of_a_process_removes_rows_silent_for_a_day(db):
    old = timezone.now() - dt.timedelta(days=1, minutes=1)
    recent = timezone.now() - dt.timedelta(hours=20)
    SchedulerHeartbeat.objects.create(worker="gone:1", host="gone", pid=1, started_at=old, ticked_at=old)
    SchedulerHeartbeat.objects.create(worker="quiet:2", host="quiet", pid=2, started_at=recent, ticked_at=recent)
    heartbeat.reset()
    assert heartbeat.beat(0.1)
    assert sorted(SchedulerHeartbeat.objects.values_list("worker", flat=True)) == sorted(
        ["quiet:2", heartbeat.worker_name()[0]])


def test_the_scheduler_check():
    assert judge(None, NOW, 5) == "no scheduler process has ticked yet"
    assert judge(NOW - dt.timedelta(seconds=15), NOW, 5) == "ok"
    assert judge(NOW - dt.timedelta(seconds=15.5), NOW, 5) == (
        "no tick for 16 s (last at 2026-01-01T11:59:44.500000+00:00); more than 3 TICK_INTERVALs (15 s)")
