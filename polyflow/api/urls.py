"""The API, mounted at api/v1/ by polyflow.urls. Polyaxon-style paths: scoped by
owner (a username) and project. Runs are named by UUID, everything else by name."""

from django.urls import path, re_path, register_converter

from .views import artifacts, contexts, docs, pipelines, projects, registry, runs, tokens


class SegmentConverter:
    """One path segment, as Django's `str`, but without NUL characters, which
    PostgreSQL cannot compare: such a path is simply no endpoint (404)."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SegmentConverter, "seg")

P = "<seg:owner>/<seg:project>/"
RUN = P + "runs/<seg:uuid>/"
OP = RUN + "ops/<seg:op>/"
PIPELINE = P + "pipelines/<seg:name>/"

urlpatterns = [
    path("", docs.ApiIndex.as_view(), name="api-index"),
    path("schema/", docs.SchemaView.as_view(), name="api-schema"),
    path("docs/", docs.DocsView.as_view(), name="api-docs"),
    path("token/", tokens.TokenView.as_view(), name="api-token"),
    path("runs/", runs.AllRunList.as_view(), name="api-all-runs"),
    # Owner-level paths come before {owner}/{project}/: their names are reserved project names.
    path("<seg:owner>/projects/", projects.ProjectList.as_view(), name="api-projects"),
    path("<seg:owner>/actions/", registry.ActionList.as_view(), name="api-actions"),
    path("<seg:owner>/actions/<seg:name>/", registry.ActionDetail.as_view(), name="api-action"),
    path("<seg:owner>/events/", registry.EventList.as_view(), name="api-events"),
    path("<seg:owner>/events/<seg:name>/fire/", registry.EventFire.as_view(), name="api-event-fire"),
    path(P, projects.ProjectDetail.as_view(), name="api-project"),
    path(P + "members/", projects.MemberList.as_view(), name="api-members"),
    path(P + "members/<seg:user>/", projects.MemberDetail.as_view(), name="api-member"),
    path(P + "contexts/", contexts.ContextUpload.as_view(), name="api-contexts"),
    path(P + "pipelines/", pipelines.PipelineList.as_view(), name="api-pipelines"),
    path(PIPELINE, pipelines.PipelineDetail.as_view(), name="api-pipeline"),
    path(PIPELINE + "pause/", pipelines.PipelinePause.as_view(), name="api-pipeline-pause"),
    path(PIPELINE + "resume/", pipelines.PipelineResume.as_view(), name="api-pipeline-resume"),
    path(PIPELINE + "runs/", pipelines.PipelineRuns.as_view(), name="api-pipeline-runs"),
    path(PIPELINE + "backfill/", pipelines.PipelineBackfill.as_view(), name="api-pipeline-backfill"),
    path(PIPELINE + "grid/", pipelines.PipelineGrid.as_view(), name="api-pipeline-grid"),
    path(PIPELINE + "export/", pipelines.PipelineExport.as_view(), name="api-pipeline-export"),
    path(PIPELINE + "specs/", pipelines.PipelineSpecs.as_view(), name="api-pipeline-specs"),
    path(P + "runs/", runs.RunList.as_view(), name="api-runs"),
    path(RUN, runs.RunDetail.as_view(), name="api-run"),
    path(RUN + "stop/", runs.RunStop.as_view(), name="api-run-stop"),
    path(RUN + "retry/", runs.RunRetry.as_view(), name="api-run-retry"),
    path(RUN + "statuses/", runs.RunStatuses.as_view(), name="api-run-statuses"),
    path(RUN + "op-statuses/", runs.RunOpStatuses.as_view(), name="api-run-op-statuses"),
    path(OP, runs.OpRunDetail.as_view(), name="api-op-run"),
    path(OP + "statuses/", runs.OpRunStatuses.as_view(), name="api-op-run-statuses"),
    path(OP + "stop/", runs.OpRunStop.as_view(), name="api-op-run-stop"),
    path(OP + "retry/", runs.OpRunRetry.as_view(), name="api-op-run-retry"),
    path(OP + "mark/", runs.OpRunMark.as_view(), name="api-op-run-mark"),
    path(OP + "logs/", runs.OpRunLogs.as_view(), name="api-op-run-logs"),
    path(OP + "metrics/", runs.OpRunMetrics.as_view(), name="api-op-run-metrics"),
    path(OP + "trials/<seg:index>/", runs.TrialDetail.as_view(), name="api-trial"),
    path(OP + "trials/<seg:index>/metrics/", runs.TrialMetrics.as_view(), name="api-trial-metrics"),
    path(OP + "trials/<seg:index>/logs/", runs.TrialLogs.as_view(), name="api-trial-logs"),
    path(RUN + "artifacts/", artifacts.RunArtifacts.as_view(), name="api-run-artifacts"),
    path(OP + "artifacts/", artifacts.OpRunArtifacts.as_view(), name="api-op-artifacts"),
    path(OP + "artifacts/<seg:name>/download/", artifacts.ArtifactDownload.as_view(),
         name="api-op-artifact-download"),
    path(OP + "trials/<seg:index>/artifacts/", artifacts.OpRunArtifacts.as_view(), name="api-trial-artifacts"),
    path(OP + "trials/<seg:index>/artifacts/<seg:name>/download/", artifacts.ArtifactDownload.as_view(),
         name="api-trial-artifact-download"),
    re_path(r"^", docs.NoSuchEndpoint.as_view()),
]
