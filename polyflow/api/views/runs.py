from __future__ import annotations

from rest_framework.response import Response

from ...access import Access
from ...selectors.artifacts import op_run_artifacts
from ...selectors.logs import LogsUnavailable, op_run_logs
from ...selectors.runs import (
    POINTS_PER_SERIES,
    get_op_run,
    get_op_run_with_trials,
    get_run,
    get_trial,
    metric_series,
    op_run_statuses,
    op_statuses_of_run,
    run_statuses,
    runs_of,
    runs_visible_to,
)
from ...services.runs import mark_op_run, retry_op_run, retry_run, stop_op_run, stop_run
from ..schema import doc
from ..serializers.runs import (
    LogsQuerySerializer,
    LogsSerializer,
    MarkSerializer,
    MetricSeriesSerializer,
    MetricsFilterSerializer,
    OpRunDetailSerializer,
    OpRunStatusSerializer,
    OpStatusQuerySerializer,
    ProjectRunFilterSerializer,
    RunOpStatusSerializer,
    RunSerializer,
    StatusSerializer,
    run_filters,
)
from .base import ApiView


class RunView(ApiView):
    def run(self, need: Access = Access.READ):
        return get_run(self.project(need), self.kwargs["uuid"])

    def again(self, run):
        """The run as the service left it, read with what its representation needs."""
        return get_run(run.pipeline.project, str(run.uuid))

    def bare_run(self, need: Access = Access.READ):
        """The run without its op runs: what the op run endpoints start from."""
        return get_run(self.project(need), self.kwargs["uuid"], op_runs=False)

    def op_run(self, need: Access = Access.READ):
        return get_op_run(self.bare_run(need), self.kwargs["op"])

    def trial(self):
        return get_trial(self.bare_run(), self.kwargs["op"], self.kwargs["index"])

class RunList(RunView):
    schema_tags = ["runs"]

    @doc(summary="The project's runs, with their op runs", parameters=[ProjectRunFilterSerializer],
         responses={200: RunSerializer(many=True)})
    def get(self, request, owner, project):
        project = self.project(Access.READ)
        runs = runs_of(project, **run_filters(self.query(ProjectRunFilterSerializer)))
        return self.paginated(runs, RunSerializer)


class AllRunList(RunView):
    schema_tags = ["runs"]

    @doc(summary="The runs of every project you can see, with their op runs",
         description="The filters of a project's runs; `uuid` finds a run by the start of its UUID wherever "
                     "it is (what `polyflow runs show ed2298c4 --server ...` asks).",
         parameters=[ProjectRunFilterSerializer], responses={200: RunSerializer(many=True)},
         operation_id="runs_all_list")
    def get(self, request):
        runs = runs_visible_to(request.user, **run_filters(self.query(ProjectRunFilterSerializer)))
        return self.paginated(runs, RunSerializer)


class RunDetail(RunView):
    schema_tags = ["runs"]

    @doc(summary="A run, with its op runs", responses={200: RunSerializer})
    def get(self, request, owner, project, uuid):
        return Response(RunSerializer(self.run()).data)


class RunStop(RunView):
    schema_tags = ["runs"]

    @doc(summary="Stop a run: pending ops stop now, submitted ones once their backend confirms",
         request=None, responses={200: RunSerializer})
    def post(self, request, owner, project, uuid):
        run = self.run(Access.ACT)
        stop_run(run)
        return Response(RunSerializer(self.again(run)).data)


class RunRetry(RunView):
    schema_tags = ["runs"]

    @doc(summary="Retry a finished run: failed, upstream_failed and stopped ops (and what depends on "
                 "them) run again", request=None, responses={200: RunSerializer})
    def post(self, request, owner, project, uuid):
        run = self.run(Access.ACT)
        retry_run(run)
        return Response(RunSerializer(self.again(run)).data)


class RunStatuses(RunView):
    schema_tags = ["runs"]

    @doc(summary="The run's status history, oldest first", responses={200: StatusSerializer(many=True)})
    def get(self, request, owner, project, uuid):
        return self.paginated(run_statuses(self.bare_run()), StatusSerializer)


class RunOpStatuses(RunView):
    schema_tags = ["runs"]

    @doc(summary="The status history of all the run's op runs (trials included), oldest first",
         description="What `polyflow runs watch` reads against a server: `after` gives only the changes "
                     "since the last one seen.",
         parameters=[OpStatusQuerySerializer], responses={200: RunOpStatusSerializer(many=True)})
    def get(self, request, owner, project, uuid):
        after = self.query(OpStatusQuerySerializer)["after"]
        return self.paginated(op_statuses_of_run(self.bare_run(), after=after), RunOpStatusSerializer)


class OpRunDetail(RunView):
    schema_tags = ["op runs"]

    @doc(summary="An op run (a matrix op's group, with its trials)", responses={200: OpRunDetailSerializer})
    def get(self, request, owner, project, uuid, op):
        op_run = get_op_run_with_trials(self.bare_run(), op)
        op_run.artifact_list = op_run_artifacts(op_run)
        return Response(OpRunDetailSerializer(op_run, context={"request": request}).data)


class OpRunStatuses(RunView):
    schema_tags = ["op runs"]

    @doc(summary="The op run's status history, every attempt, oldest first",
         responses={200: OpRunStatusSerializer(many=True)})
    def get(self, request, owner, project, uuid, op):
        return self.paginated(op_run_statuses(self.op_run()), OpRunStatusSerializer)


class OpRunStop(RunView):
    schema_tags = ["op runs"]

    @doc(summary="Stop one op run", request=None, responses={200: OpRunDetailSerializer})
    def post(self, request, owner, project, uuid, op):
        run = self.bare_run(Access.ACT)
        stop_op_run(run, op)
        return Response(OpRunDetailSerializer(get_op_run_with_trials(run, op)).data)


class OpRunRetry(RunView):
    schema_tags = ["op runs"]

    @doc(summary="Retry one finished op run, and what depends on it", request=None,
         responses={200: OpRunDetailSerializer})
    def post(self, request, owner, project, uuid, op):
        run = self.bare_run(Access.ACT)
        retry_op_run(run, op)
        return Response(OpRunDetailSerializer(get_op_run_with_trials(run, op)).data)


class OpRunMark(RunView):
    schema_tags = ["op runs"]

    @doc(summary="Mark an op run succeeded, failed or skipped (Airflow's mark success / failed)",
         description="An attempt still running is stopped first (its process or pod is ended), a finished op "
                     "run is marked again; a matrix op's group is marked, its trials that had not ended are "
                     "stopped. The reason and your user name go into the op run's status history. Ops "
                     "downstream that were upstream_failed or skipped by their trigger rule are worked out "
                     "again (a finished run is reopened when that leaves work to do), and depends_on_past of "
                     "the next slot's run sees the mark. A trial cannot be marked: its group can (422).",
         request=MarkSerializer, responses={200: OpRunDetailSerializer})
    def post(self, request, owner, project, uuid, op):
        op_run = self.op_run(Access.ACT)
        data = self.body(MarkSerializer)
        mark_op_run(op_run, data["status"], reason=data["reason"], user=request.user)
        return Response(OpRunDetailSerializer(get_op_run_with_trials(op_run.run, op)).data)


class OpRunLogs(RunView):
    schema_tags = ["op runs"]

    @doc(summary="The op run's logs (its current attempt, or `attempt`)",
         description="The lines its backend kept (for the local backend, the op's stdout and stderr); "
                     "empty while the attempt was never submitted, when its backend is not available here, "
                     "or when the backend no longer keeps an earlier attempt's lines.",
         parameters=[LogsQuerySerializer], responses={200: LogsSerializer})
    def get(self, request, owner, project, uuid, op):
        return self.logs(self.op_run())

    def logs(self, op_run) -> Response:
        query = self.query(LogsQuerySerializer)
        attempt = query.get("attempt") or op_run.attempt
        try:
            lines = op_run_logs(op_run, attempt, query.get("tail"))
        except LogsUnavailable:
            lines = []
        return Response(LogsSerializer({"op": op_run.label, "attempt": attempt, "lines": lines}).data)


# {metric: [[step, value, reported_at], ...]}
_SERIES = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {
        "type": "array", "minItems": 3, "maxItems": 3, "description": "[step, value, reported_at]",
        "items": {"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]}}},
    "example": {"loss": [[0, 0.9, "2026-03-01T12:00:05Z"], [1, 0.5, "2026-03-01T12:00:10Z"]]},
}
_SERIES_DESCRIPTION = (
    "Every metric the attempt (the current one, or `attempt`) reported, or those in `names`, each a list of "
    f"`[step, value, reported_at]` by step. A series of more than {POINTS_PER_SERIES} points is thinned evenly "
    "to at most that many, its first and last points kept. `reported_at` is when Polyflow read the point.")


class TrialDetail(RunView):
    schema_tags = ["op runs"]

    @doc(summary="A trial of a matrix op", responses={200: OpRunDetailSerializer})
    def get(self, request, owner, project, uuid, op, index):
        trial = self.trial()
        trial.artifact_list = op_run_artifacts(trial)
        return Response(OpRunDetailSerializer(trial, context={"request": request}).data)


class TrialLogs(OpRunLogs):
    @doc(summary="A trial's logs (its current attempt, or `attempt`)",
         parameters=[LogsQuerySerializer], responses={200: LogsSerializer})
    def get(self, request, owner, project, uuid, op, index):
        return self.logs(self.trial())


class OpRunMetrics(RunView):
    schema_tags = ["op runs"]

    @doc(summary="The op run's metric series", description=_SERIES_DESCRIPTION,
         parameters=[MetricsFilterSerializer], responses={200: _SERIES})
    def get(self, request, owner, project, uuid, op):
        return self.series(self.op_run())

    def series(self, op_run) -> Response:
        filters = self.query(MetricsFilterSerializer)
        series = metric_series(op_run, names=filters.get("names") or None, attempt=filters.get("attempt"))
        return Response(MetricSeriesSerializer(series).data)


class TrialMetrics(OpRunMetrics):
    @doc(summary="A trial's metric series", description=_SERIES_DESCRIPTION,
         parameters=[MetricsFilterSerializer], responses={200: _SERIES})
    def get(self, request, owner, project, uuid, op, index):
        return self.series(self.trial())
