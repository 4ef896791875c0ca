"""The dashboard's pure helpers: the YAML highlighter, the timeline, the next slot, schedules in words."""

from __future__ import annotations

import datetime as dt
import html
import re
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyflow.selectors.dashboard import next_slot
from polyflow.spec.describe import describe_schedule
from polyflow.spec.plan import ScheduleSpec
from polyflow.ui import timeline
from polyflow.ui.highlight import highlight_yaml

from .support import EXAMPLES

UTC = dt.UTC


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda path: path.name)
def test_highlighting_keeps_the_text(path):
    text = path.read_text()
    assert text_of(highlight_yaml(text)) == text


@given(st.text(alphabet=st.sampled_from(list("ab1.:#-'\"{}[], |>&*!\n<>&\t{}")), max_size=80))
def test_highlighting_keeps_any_text_and_escapes_it(text):
    markup = highlight_yaml(text)
    assert text_of(markup) == text
    assert "<" not in re.sub(r'</?span( class="y-[a-z]+")?>', "", markup)


def test_highlighting_classes():
    markup = highlight_yaml(
        "# top\nname: test  # trailing\nops:\n  - {name: job1, n: 2, ok: true}\n"
        "args: [\"--lr={{ params.lr }}\"]\nscript: |\n  echo: {{ not a key }}\nafter: ~\n")
    assert '<span class="y-comment"># top</span>' in markup
    assert '<span class="y-key">name</span><span class="y-punct">:</span> <span class="y-str">test</span>' in markup
    assert '<span class="y-comment"># trailing</span>' in markup
    assert '<span class="y-punct">{</span><span class="y-key">name</span>' in markup
    assert '<span class="y-num">2</span>' in markup and '<span class="y-const">true</span>' in markup
    assert '<span class="y-tpl">{{ params.lr }}</span>' in markup
    assert '  <span class="y-str">echo: </span><span class="y-tpl">{{ not a key }}</span>' in markup  # block scalar
    assert '<span class="y-key">after</span><span class="y-punct">:</span> <span class="y-const">~</span>' in markup


def record(status, attempt, second):
    return SimpleNamespace(status=status, attempt=attempt, created_at=dt.datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC))


def test_timeline_bars_per_attempt():
    now = dt.datetime(2026, 1, 1, 0, 0, 40, tzinfo=UTC)
    history = {
        "a": [record("created", 1, 0), record("scheduled", 1, 1), record("running", 1, 2),
              record("retrying", 1, 10), record("scheduled", 2, 12), record("running", 2, 14),
              record("succeeded", 2, 20)],
        "b": [record("created", 1, 0), record("scheduled", 1, 20), record("running", 1, 21)],
        "c": [record("created", 1, 0)],
    }
    op_runs = [SimpleNamespace(name="a", status="succeeded", attempt=2),
               SimpleNamespace(name="b", status="running", attempt=1),
               SimpleNamespace(name="c", status="created", attempt=1)]
    result = timeline.build(op_runs, history, now)
    a, b, c = result.rows
    assert [(bar.attempt, bar.status, bar.seconds) for bar in a.bars] == [(1, "failed", 8.0), (2, "succeeded", 6.0)]
    assert [(bar.attempt, bar.status, bar.seconds) for bar in b.bars] == [(1, "running", None)]
    assert c.bars == []
    assert result.start == history["a"][2].created_at and result.end == now  # b goes on
    assert a.bars[0].left == 0 and a.bars[0].width == pytest.approx(100 * 8 / 38, abs=0.01)
    assert b.bars[0].left + b.bars[0].width == pytest.approx(100)
    assert result.ticks[0] == (0, "0") and result.ticks[-1][1] == "+30s"
    assert timeline.build(op_runs[2:], history, now).empty


def test_durations_and_ticks():
    assert [timeline.duration(s) for s in (0, 0.4, 12, 75, 3600 + 300, 86400 * 2 + 3600)] == [
        "0s", "0.4s", "12s", "1m 15s", "1h 5m", "2d 1h"]
    assert [label for _, label in timeline.ticks(10)] == ["0", "+2s", "+4s", "+6s", "+8s", "+10s"]
    assert len(timeline.ticks(7200)) <= 7


def test_schedule_in_words():
    schedule = ScheduleSpec(kind="interval", frequency=120, depends_on_past=True,
                            start_at=dt.datetime(2019, 6, 24, 21, 20, 7, tzinfo=UTC))
    assert describe_schedule(schedule, minutes=True) == "every 2 minutes from 2019-06-24 21:20 UTC, depends on past"
    assert describe_schedule(schedule) == "every 2 minutes from 2019-06-24 21:20:07 UTC, depends on past"


def pipeline(**fields):
    values = {"schedule_done": False, "schedule_start_at": None, "next_slot_at": None, "last_slot_at": None,
              "runs_created": 0}
    return SimpleNamespace(**{**values, **fields})


def test_next_slot():
    start = dt.datetime(2019, 6, 24, 21, 20, 7, tzinfo=UTC)
    now = dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    every = ScheduleSpec(kind="interval", frequency=120, start_at=start)
    # Never ticked: the latest due slot gets a run at the next tick (computed, not walked slot by slot).
    due = next_slot(pipeline(schedule_start_at=start), every, 0, now)
    assert due.due and due.note == "due now" and due.at <= now < due.at + dt.timedelta(seconds=120)
    assert (due.at - start).total_seconds() % 120 == 0
    waiting = next_slot(pipeline(schedule_start_at=start), every, 1, now)
    assert waiting.note == "due, waiting for 1 active run"
    later = now + dt.timedelta(seconds=30)
    assert next_slot(pipeline(schedule_start_at=start, next_slot_at=later), every, 0, now).at == later
    assert not next_slot(pipeline(schedule_start_at=start, next_slot_at=later), every, 0, now).due
    assert next_slot(pipeline(), None, 0, now).note == "manual only"
    assert next_slot(pipeline(schedule_done=True), every, 0, now).note == "schedule finished"
    cron = ScheduleSpec(kind="cron", cron="30 2 * * *", timezone="UTC", start_at=now - dt.timedelta(days=3))
    slot = next_slot(pipeline(schedule_start_at=cron.start_at), cron, 0, now)
    assert slot.at == dt.datetime(2025, 12, 31, 2, 30, tzinfo=UTC) and slot.due
    future = next_slot(pipeline(schedule_start_at=now + dt.timedelta(hours=1)),
                       ScheduleSpec(kind="exact_time", start_at=now + dt.timedelta(hours=1)), 0, now)
    assert future.at == now + dt.timedelta(hours=1) and not future.due and future.note == ""
