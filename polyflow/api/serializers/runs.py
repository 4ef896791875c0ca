import datetime as dt

from rest_framework import serializers

from ...matrix.grouping import ops_and_trials
from ...models import PipelineRun
from ...selectors.runs import GRID_MAX_RUNS, RUN_ORDERINGS
from ...services.runs import MAX_MARK_REASON
from ...statuses import OP_MARKS, OpStatus, RunStatus
from .artifacts import ArtifactListField, ArtifactSerializer
from .fields import Text

# The longest `param` filter of a run list.
MAX_PARAM_FILTER = 10_000


def seconds_between(started_at, finished_at) -> float | None:
    return (finished_at - started_at).total_seconds() if started_at and finished_at else None


class Duration(serializers.FloatField):
    """Seconds from the op run's own `started_at` to its `finished_at`; null until both are known."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, allow_null=True, **kwargs)

    def to_representation(self, instance):
        return seconds_between(instance.started_at, instance.finished_at)


def _time(value):
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OpStatus.choices(),
                                     help_text="how the attempt ended (a retried attempt: failed); the current "
                                               "attempt's is the op run's")
    reason = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(allow_null=True, help_text="seconds; null until the attempt ended")


class AttemptListSerializer(serializers.ListSerializer):
    """Every attempt of an op run, oldest first: the past ones as stored when the next began, then
    the current one from the op run's own fields (no status history is read)."""

    def get_attribute(self, instance):
        attempts = []
        for past in instance.attempts or []:
            started, finished = _time(past.get("started_at")), _time(past.get("finished_at"))
            attempts.append({"attempt": past.get("attempt"), "status": past.get("status"),
                             "reason": past.get("reason") or "", "started_at": started, "finished_at": finished,
                             "duration": seconds_between(started, finished)})
        status = OpStatus.FAILED if instance.status == OpStatus.RETRYING else instance.status
        attempts.append({"attempt": instance.attempt, "status": status, "reason": instance.reason,
                         "started_at": instance.started_at, "finished_at": instance.finished_at,
                         "duration": seconds_between(instance.started_at, instance.finished_at)})
        return attempts


class CacheSourceSerializer(serializers.Serializer):
    run = serializers.UUIDField(source="run.uuid")
    op = serializers.CharField(source="name")
    trial = serializers.IntegerField(allow_null=True)


class OpRunSerializer(serializers.Serializer):
    """An op run: an op's, a matrix op's group's, or one of its trials'."""
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=OpStatus.choices())
    reason = serializers.CharField()
    message = serializers.CharField()
    attempt = serializers.IntegerField()
    params = serializers.JSONField()
    outputs = serializers.JSONField()
    exit_code = serializers.IntegerField(allow_null=True)
    backend = serializers.CharField()
    handle = serializers.CharField(help_text="the backend's name for it, e.g. the pod")
    retry_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    trial = serializers.IntegerField(allow_null=True, help_text="a matrix trial's index; null for an op (a matrix "
                                                                "op's group included)")
    trial_params = serializers.JSONField(help_text="a trial's own values of the matrix; {} for an op")
    metrics = serializers.JSONField(
        help_text="the latest value of each metric the current attempt reported, and `step`, its last step "
                  "(the series: `metrics/`); {} until it reports")
    duration = Duration(help_text="seconds of the current attempt, from its own started_at to its finished_at; "
                                  "null while it runs or when it never started")
    attempts = AttemptListSerializer(child=AttemptSerializer(), source="*", read_only=True,
                                     help_text="every attempt, oldest first, each with its own times; the last "
                                               "is the current one")
    cache_source = CacheSourceSerializer(
        read_only=True, allow_null=True,
        help_text="a cached op run (reason `cached`): the op run whose outputs and artifacts it reused; null otherwise")


class TrialListSerializer(serializers.ListSerializer):
    """A group's trials, in trial order: what the view or the run's op runs put on the op run."""

    def get_attribute(self, instance):
        return getattr(instance, "trials_in_run", None) or []


class GroupOpRunSerializer(OpRunSerializer):
    """An op run among its run's op runs: an op's, or a matrix op's group's with its trials."""

    summary = serializers.JSONField(help_text="a matrix op's account of its trials once it ended (counts, the best "
                                              "trial, the early stopping that fired); {} otherwise")
    trials = TrialListSerializer(child=OpRunSerializer(), help_text="a matrix op's trials, in trial order; [] for "
                                                                     "other ops")


class OpRunsInRunSerializer(serializers.ListSerializer):
    """A run's op runs, one per op: a matrix op's trials are listed under its group."""

    def to_representation(self, data):
        ops, trials = ops_and_trials(data.all() if hasattr(data, "all") else data)
        for op in ops:
            op.trials_in_run = trials.get(op.name, [])
        return [self.child.to_representation(op) for op in ops]


class OpRunDetailSerializer(GroupOpRunSerializer):
    run = serializers.UUIDField(source="run.uuid")
    artifacts = ArtifactListField(child=ArtifactSerializer(), read_only=True,
                                  help_text="what its current attempt stored: its outputs of type path")


class RunSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    owner = serializers.CharField(source="pipeline.project.owner.username")
    project = serializers.CharField(source="pipeline.project.name")
    pipeline = serializers.CharField(source="pipeline.name")
    trigger = serializers.ChoiceField(choices=PipelineRun.Trigger.choices)
    schedule_at = serializers.DateTimeField(allow_null=True)
    event = serializers.CharField(source="event.name", allow_null=True, default=None)
    params = serializers.JSONField()
    status = serializers.ChoiceField(choices=RunStatus.choices())
    reason = serializers.CharField()
    message = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    scheduler_error = serializers.CharField(
        help_text="why the scheduler could not advance this run the last time it tried; empty when it can")
    scheduler_error_at = serializers.DateTimeField(allow_null=True)
    op_runs = OpRunsInRunSerializer(child=GroupOpRunSerializer())


class StatusSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="increasing: the order the changes were written in")
    status = serializers.CharField()
    previous = serializers.CharField(help_text="the status before; empty for the first")
    reason = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None,
                                 help_text="who asked for it (a mark); null for the scheduler's own changes")


class OpRunStatusSerializer(StatusSerializer):
    attempt = serializers.IntegerField()


class RunOpStatusSerializer(OpRunStatusSerializer):
    """A change of one of the run's op runs."""

    op = serializers.CharField(source="op_run.name")
    trial = serializers.IntegerField(source="op_run.trial", allow_null=True,
                                     help_text="a trial's index; null for an op or a matrix op's group")


class LogsSerializer(serializers.Serializer):
    op = serializers.CharField()
    attempt = serializers.IntegerField()
    lines = serializers.ListField(child=serializers.CharField(),
                                 help_text="empty until a backend that keeps logs exists")


class LogsQuerySerializer(serializers.Serializer):
    """The query string of an op run's logs."""

    attempt = serializers.IntegerField(required=False, min_value=1,
                                       help_text="that attempt's lines (default: the current attempt); an attempt "
                                                 "the op run has not had is a 404")
    tail = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000,
                                    help_text="only the last N lines")


class MetricsFilterSerializer(serializers.Serializer):
    """The query string of a metrics series."""

    names = serializers.CharField(required=False, allow_blank=True, max_length=10000,
                                  help_text="only these metrics, comma-separated (`?names=loss,accuracy`); "
                                            "empty: every metric")
    attempt = serializers.IntegerField(required=False, min_value=1,
                                       help_text="the attempt's series (default: the current attempt)")

    def validate_names(self, value: str) -> list[str]:
        return [name.strip() for name in value.split(",") if name.strip()]


class MetricSeriesSerializer(serializers.Serializer):
    """`{metric: [[step, value, reported_at], ...]}`, by step (the schema's shape of it)."""

    def to_representation(self, instance):
        return {name: [[step, value, serializers.DateTimeField().to_representation(reported_at)]
                       for step, value, reported_at in points]
                for name, points in instance.items()}


class TriggerSerializer(serializers.Serializer):
    params = serializers.DictField(
        child=serializers.DictField(), required=False,
        help_text='overrides per op: `{"op": {"input": value}}`, checked like the spec checks params',
    )
    no_cache = serializers.BooleanField(
        required=False, default=False,
        help_text="run every op, even those with `cache: true` whose earlier results could be reused",
    )


ORDERING_CHOICES = [f"{sign}{name}" for name in RUN_ORDERINGS for sign in ("", "-")]


class RunFilterSerializer(serializers.Serializer):
    """The query string of run lists."""

    status = serializers.ListField(child=serializers.ChoiceField(choices=RunStatus.choices()), required=False,
                                   help_text="only runs in these statuses (repeat the parameter for several)")
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601; created at or after")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601; created before")
    trigger = serializers.ListField(child=serializers.ChoiceField(choices=PipelineRun.Trigger.choices),
                                    required=False, help_text="only runs started this way (repeat for several)")
    uuid = serializers.RegexField(r"^-*[0-9a-fA-F][0-9a-fA-F-]{0,35}$", required=False,
                                  error_messages={"invalid": "expected the start of a run's UUID: hex digits, "
                                                             "dashes optional"},
                                  help_text="only runs whose UUID starts with these hex digits (dashes optional), "
                                            "e.g. `ed2298c4`")
    param = serializers.ListField(
        # Not stripped: the pattern the schema states is the one checked (" .x=1" is an op " ", no 400).
        child=serializers.RegexField(r"^[^.=\x00]+\.[^=\x00]+=[^\x00]*$", max_length=MAX_PARAM_FILTER,
                                     trim_whitespace=False,
                                     error_messages={"invalid": "expected OP.NAME=VALUE, e.g. train.lr=0.1"}),
        required=False,
        help_text="only runs triggered with this param value, `OP.NAME=VALUE` as `polyflow trigger --param` "
                  "takes it (`train.lr=0.1`: VALUE is read as JSON when it is JSON, else as text); repeat: all "
                  "of them")
    ordering = serializers.ChoiceField(choices=ORDERING_CHOICES, default="-created_at")


class ProjectRunFilterSerializer(RunFilterSerializer):
    pipeline = serializers.CharField(required=False, max_length=255, help_text="only the runs of this pipeline")


def run_filters(data: dict) -> dict:
    """A run list's validated query as selectors.runs.filtered_runs takes it."""
    return {"pipeline": data.get("pipeline"), "statuses": data.get("status", ()),
            "triggers": data.get("trigger", ()), "created_after": data.get("created_after"),
            "created_before": data.get("created_before"), "uuid_prefix": data.get("uuid"),
            "params": data.get("param", ()), "ordering": data["ordering"]}


class OpStatusQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(required=False, min_value=0, default=0,
                                     help_text="only records after the one of this `id` (what a watcher saw last)")


class MarkSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=sorted(OP_MARKS), help_text="what the op run is marked")
    reason = Text(required=False, allow_blank=True, default="", max_length=MAX_MARK_REASON,
                  help_text="why, recorded in the op run's status history with your user name")


class BackfillSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="the first slot's time at the earliest (included)")
    end = serializers.DateTimeField(help_text="slots before this time (excluded; slots after now are left to "
                                              "the scheduler)")


class GridQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=25, min_value=1, max_value=GRID_MAX_RUNS,
                                     help_text="how many of the newest runs")


class GridRunSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    schedule_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=RunStatus.choices())
    trigger = serializers.ChoiceField(choices=PipelineRun.Trigger.choices)
    ops = serializers.DictField(child=serializers.ChoiceField(choices=OpStatus.choices()),
                                help_text="op name -> its status in this run (a matrix op's: its group's)")


class GridSerializer(serializers.Serializer):
    ops = serializers.ListField(child=serializers.CharField(),
                                help_text="the pipeline's ops in order, then those only older runs had")
    runs = GridRunSerializer(many=True, help_text="newest first")
