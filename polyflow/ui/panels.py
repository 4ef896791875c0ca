"""The panels of a run page's ops that show more than a status: a matrix group's trials and
charts, and the metric charts of an op that reports metrics (an experiment).

`build` reads through selectors.groups (three queries whatever the number of groups, trials
and points) and draws with charts; the run page and its live fragment both call it, so
what the page shows first and what replaces it while the run goes on are the same markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from ..selectors import groups as reads
from ..selectors.groups import Progress, Series, Trial
from ..spec import Plan
from ..spec.plan import MatrixSpec, OpSpec
from ..statuses import OP_FINAL, OpStatus
from . import charts
from .dag import NodeBadge
from .timeline import duration

# The trials a group's table lists at once: a page (its charts draw every trial shown). With a
# page of 100, the body of a 1,000-trial group stays under 1 MB (bench/dashboard_bench.py).
TRIALS_PER_PAGE = 100
# Spaces whose values spread over decades: their axes are logarithmic.
LOG_SPACES = frozenset({"logspace", "geomspace", "loguniform", "qloguniform", "lognormal", "qlognormal"})


@dataclass(frozen=True)
class Cell:
    text: str  # as shown
    sort: str  # what the table's script sorts by: a number, or text (empty sorts last)


@dataclass
class TrialRow:
    trial: Trial
    params: list[Cell]  # in the columns' order
    metric: Cell
    duration: Cell


def status_bar(counts: Mapping[str, int]) -> list[tuple[str, int, float]]:
    """(status, how many, percent) in the order of the legend: a progress bar's segments."""
    total = sum(counts.values()) or 1
    return [(status, counts[status], round(100 * counts[status] / total, 2)) for status in OpStatus.values()
            if counts.get(status)]


@dataclass
class GroupPanel:
    kind = "group"
    op_run: object
    matrix: MatrixSpec
    progress: Progress
    params: list[str]  # the table's param columns
    rows: list[TrialRow]  # the table's page
    best: Trial | None
    page: int = 1
    pages: int = 1
    listed: int = 0  # trials read (the charts draw them all), of which `rows` are a page
    scatters: list[SafeString] = field(default_factory=list)
    parallel: SafeString | None = None
    lines: SafeString | None = None

    @property
    def final(self) -> bool:
        return self.op_run.status in OP_FINAL

    @property
    def best_metric(self) -> str:
        return _cell(self.best.metric).text if self.best else ""

    @property
    def bar(self) -> list[tuple[str, int, float]]:
        return status_bar(self.progress.counts)

    @property
    def hidden_trials(self) -> int:
        """Trials past what is read at all (selectors.groups.TRIALS_SHOWN)."""
        return max(self.progress.total - self.listed, 0)

    @property
    def first_row(self) -> int:
        """The 1-based position of the page's first row among the trials listed."""
        return (self.page - 1) * TRIALS_PER_PAGE + 1

    @property
    def last_row(self) -> int:
        return self.first_row + len(self.rows) - 1

    @property
    def early_stopping(self) -> str:
        summary = self.op_run.summary if isinstance(self.op_run.summary, Mapping) else {}
        return summary.get("early_stopping") or ""


@dataclass
class MetricsPanel:
    kind = "metrics"
    op_run: object
    charts: list[tuple[str, str, SafeString]]  # (metric, its latest value, its line chart), by name


Panel = GroupPanel | MetricsPanel


def panel_kind(spec: OpSpec | None, op_run) -> str | None:
    """"group" for a matrix op, "metrics" for an experiment or any op that reported metrics."""
    if spec is not None and spec.matrix is not None:
        return "group"
    if op_run.metrics or (spec is not None and spec.template is not None and spec.template.kind == "experiment"):
        return "metrics"
    return None


def badges(progress: Mapping[str, Progress]) -> dict[str, NodeBadge]:
    """The DAG's badge of each group that has trials: done/total, and how many run."""
    return {name: NodeBadge(f"{item.done}/{item.total}", item.running, item.in_words)
            for name, item in progress.items() if item.total}


def build(run, plan: Plan, op_runs: Sequence, progress: Mapping[str, Progress], now: dt.datetime,
          only: Collection[str] | None = None, pages: Mapping[str, int] | None = None) -> dict[str, Panel]:
    """{op name: its panel} for the ops that have one (among `only`, when given); `pages`: the
    page of a group's trials table to draw (the first by default)."""
    specs = {op.name: op for op in plan.ops}
    kinds = {op_run.name: kind for op_run in op_runs
             if (only is None or op_run.name in only) and (kind := panel_kind(specs.get(op_run.name), op_run))}
    groups = {name: specs[name].matrix for name, kind in kinds.items() if kind == "group"}
    metrics = {name: matrix.metric.name for name, matrix in groups.items() if matrix.metric is not None}
    trials = reads.group_trials(run.pk, {name: metrics.get(name) for name in groups})
    series = reads.metric_series(run.pk, groups=metrics, ops=[name for name in kinds if kinds[name] == "metrics"],
                                 points=reads.per_series(max(map(len, trials.values()), default=1)))
    panels: dict[str, Panel] = {}
    for op_run in op_runs:
        if kinds.get(op_run.name) == "group":
            panels[op_run.name] = group_panel(op_run, groups[op_run.name], progress.get(op_run.name, Progress()),
                                              trials[op_run.name], series, now, (pages or {}).get(op_run.name, 1))
        elif kinds.get(op_run.name) == "metrics":
            panels[op_run.name] = metrics_panel(op_run, series)
    return panels


def trials_page(count: int, page: int) -> tuple[int, int]:
    """(the page, clamped to those there are, how many pages) of a table of `count` trials."""
    pages = max((count + TRIALS_PER_PAGE - 1) // TRIALS_PER_PAGE, 1)
    return min(max(page, 1), pages), pages


def group_panel(op_run, matrix: MatrixSpec, progress: Progress, trials: list[Trial], series: Series,
                now: dt.datetime, page: int = 1) -> GroupPanel:
    metric = matrix.metric
    best = reads.mark_best(trials, op_run.summary, metric and metric.optimization)
    params = list(matrix.params) or list(dict.fromkeys(name for trial in trials for name in trial.params))
    page, pages = trials_page(len(trials), page)
    start = (page - 1) * TRIALS_PER_PAGE
    rows = [TrialRow(trial, [_cell(trial.params.get(name)) for name in params], _cell(trial.metric),
                     _duration(trial.seconds(now))) for trial in trials[start:start + TRIALS_PER_PAGE]]
    panel = GroupPanel(op_run, matrix, progress, params, rows, best, page, pages, len(trials))
    if metric is None:
        return panel
    label = metric.name
    titles = {trial.index: _title(trial, label) for trial in trials}
    for name in params:
        points = [charts.Point(trial.params.get(name), trial.metric, titles[trial.index], str(trial.index), trial.best)
                  for trial in trials if trial.metric is not None]
        space = matrix.params.get(name)
        panel.scatters.append(charts.scatter(points, x_label=name, y_label=label,
                                             log_x=space is not None and space.kind in LOG_SPACES,
                                             empty=f"no {label} yet"))
    if len(params) > 1:
        panel.parallel = charts.parallel(
            [charts.Axis(name, [trial.params.get(name) for trial in trials],
                         name in matrix.params and matrix.params[name].kind in LOG_SPACES) for name in params],
            [charts.Row(titles[trial.index], str(trial.index), trial.best) for trial in trials],
            metric=charts.Axis(label, [trial.metric for trial in trials]), empty=f"no {label} yet")
    lines = [charts.Series(titles[trial.index], series.get((trial.op_run_id, label), ()), str(trial.index), trial.best)
             for trial in trials]
    if any(item.points for item in lines) or not panel.final:
        panel.lines = charts.lines(lines, x_label="step", y_label=label, empty=f"no {label} reported yet")
    return panel


def metrics_panel(op_run, series: Series) -> MetricsPanel:
    latest = op_run.metrics if isinstance(op_run.metrics, Mapping) else {}
    names = sorted(name for op_run_id, name in series if op_run_id == op_run.pk)
    return MetricsPanel(op_run, [(name, _cell(latest.get(name)).text,
                                  charts.lines([charts.Series(name, series[(op_run.pk, name)], name)],
                                               x_label="step", y_label=name))
                                 for name in names])


def _duration(seconds: float | None) -> Cell:
    return Cell(duration(seconds), "" if seconds is None else f"{seconds:.3f}")


def _cell(value) -> Cell:
    if value is None:
        return Cell("", "")
    if charts.finite(value):
        return Cell(charts.number(value), repr(float(value)))
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return Cell(text, text)


def _title(trial: Trial, metric: str) -> str:
    params = ", ".join(f"{name}={_cell(value).text}" for name, value in trial.params.items())
    value = "" if trial.metric is None else f" \u2192 {metric} {charts.number(trial.metric)}"
    return f"{trial.label}: {params}{value}{' (best)' if trial.best else ''}"
