from __future__ import annotations

import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.response import Response

from ...access import Access
from ...selectors.exports import export_pipeline
from ...selectors.pipelines import get_pipeline, pipelines_of
from ...selectors.runs import recent_runs_grid, runs_in_slot_order, runs_of
from ...selectors.spec_history import spec_versions
from ...services.apply import apply_documents
from ...services.backfill import backfill
from ...services.build_contexts import api_supplies
from ...services.pipelines import delete_pipeline, set_paused
from ...services.runs import trigger_run
from ..documents import documents_from_body
from ..parsers import YAML_PARSERS, StrictJSONParser
from ..schema import doc
from ..serializers.contexts import PipelineContextQuerySerializer
from ..serializers.documents import document_request
from ..serializers.errors import ErrorSerializer
from ..serializers.pipelines import (
    ExportQuerySerializer,
    PipelineDetailSerializer,
    PipelineSerializer,
    SpecVersionSerializer,
)
from ..serializers.runs import (
    BackfillSerializer,
    GridQuerySerializer,
    GridSerializer,
    RunFilterSerializer,
    RunSerializer,
    TriggerSerializer,
    run_filters,
)
from .base import ApiView

CONTEXT_DESCRIPTION = (
    "Builds without a context (or with a relative one) build from the spec's directory: `?context=` names it, "
    "as the digest of a context uploaded to this project (`POST contexts/`) or a URL given to kaniko. Every "
    "setting the server's backend lacks to run the pipeline (`BUILD_REGISTRY` for a build without an image, a "
    "context, a usable artifact store) is a 422 `missing_settings` listing them all.")


class PipelineList(ApiView):
    schema_tags = ["pipelines"]
    parser_classes = [StrictJSONParser, *YAML_PARSERS]

    @doc(summary="The project's pipelines", responses={200: PipelineSerializer(many=True)})
    def get(self, request, owner, project):
        return self.paginated(pipelines_of(self.project(Access.READ)), PipelineSerializer)

    @doc(summary="Create a pipeline from its document (409 when it exists)",
         description=CONTEXT_DESCRIPTION, parameters=[PipelineContextQuerySerializer],
         request=document_request("pipeline"), responses={201: PipelineDetailSerializer})
    def post(self, request, owner, project):
        project = self.project(Access.ACT)
        context = self.query(PipelineContextQuerySerializer).get("context")
        raws, contents = documents_from_body(request.data)
        result = apply_documents(project, raws, contents=contents, user=request.user, expect_kind="pipeline",
                                 mode="create", supplies=api_supplies(project, context, raws))
        pipeline, _ = result.pipelines[0]
        return Response(PipelineDetailSerializer(pipeline).data, status=status.HTTP_201_CREATED)


class PipelineDetail(ApiView):
    schema_tags = ["pipelines"]
    parser_classes = [StrictJSONParser, *YAML_PARSERS]

    @doc(summary="A pipeline, with its document and plan", responses={200: PipelineDetailSerializer})
    def get(self, request, owner, project, name):
        return Response(PipelineDetailSerializer(get_pipeline(self.project(Access.READ), name)).data)

    @doc(summary="Replace a pipeline's document (the name must stay); runs already created keep "
                 "their plan", description=CONTEXT_DESCRIPTION, parameters=[PipelineContextQuerySerializer],
         request=document_request("pipeline"), responses={200: PipelineDetailSerializer})
    def put(self, request, owner, project, name):
        project = self.project(Access.ACT)
        get_pipeline(project, name)
        context = self.query(PipelineContextQuerySerializer).get("context")
        raws, contents = documents_from_body(request.data)
        result = apply_documents(project, raws, contents=contents, user=request.user, expect_kind="pipeline",
                                 mode="update", expect_name=name, supplies=api_supplies(project, context, raws))
        pipeline, _ = result.pipelines[0]
        return Response(PipelineDetailSerializer(pipeline).data)

    @doc(summary="Delete a pipeline and its runs (409 while it has active runs)", responses={204: None})
    def delete(self, request, owner, project, name):
        delete_pipeline(get_pipeline(self.project(Access.ACT), name))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _set_paused(view: ApiView, name: str, paused: bool) -> Response:
    pipeline = get_pipeline(view.project(Access.ACT), name)
    return Response(PipelineSerializer(set_paused(pipeline, paused)).data)


class PipelinePause(ApiView):
    schema_tags = ["pipelines"]

    @doc(summary="Pause: no new runs, no new op submissions; running ops finish", request=None,
         responses={200: PipelineSerializer})
    def post(self, request, owner, project, name):
        return _set_paused(self, name, True)


class PipelineResume(ApiView):
    schema_tags = ["pipelines"]

    @doc(summary="Resume a paused pipeline", request=None, responses={200: PipelineSerializer})
    def post(self, request, owner, project, name):
        return _set_paused(self, name, False)


class PipelineSpecs(ApiView):
    schema_tags = ["pipelines"]

    @doc(summary="The history of the pipeline's applied specs, newest first",
         description="Every text applied (apply, PUT, `polyflow apply`) that differed from the one before, "
                     "numbered from 1; applying the same text again adds none.",
         responses={200: SpecVersionSerializer(many=True)})
    def get(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.READ), name)
        return self.paginated(spec_versions(pipeline), SpecVersionSerializer)


class PipelineRuns(ApiView):
    schema_tags = ["runs"]

    @doc(summary="The pipeline's runs, with their op runs", parameters=[RunFilterSerializer],
         responses={200: RunSerializer(many=True)})
    def get(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.READ), name)
        filters = run_filters(self.query(RunFilterSerializer))
        runs = runs_of(pipeline.project, **{**filters, "pipeline": pipeline.name})
        return self.paginated(runs, RunSerializer)

    @doc(summary="Trigger a run now, with param overrides per op", request=TriggerSerializer,
         responses={201: RunSerializer})
    def post(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.ACT), name)
        data = self.body(TriggerSerializer)
        run = trigger_run(pipeline, params=data.get("params"), user=request.user,
                          no_cache=data.get("no_cache", False))
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class PipelineBackfill(ApiView):
    schema_tags = ["runs"]

    @doc(summary="Backfill: runs for the schedule's past slots in [start, end) that have none",
         description="Slot order; the runs are queued and start as max_active_runs allows, their ops held by "
                     "depends_on_past as scheduled runs are (trigger `backfill`). Slots after now are left to "
                     "the scheduler. A pipeline without an interval, cron or exact_time schedule, an end not "
                     "after the start, or a range of more than 1000 slots is a 422.",
         request=BackfillSerializer, responses={201: RunSerializer(many=True)})
    def post(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.ACT), name)
        data = self.body(BackfillSerializer)
        runs = backfill(pipeline, data["start"], data["end"], user=request.user)
        return Response(RunSerializer(runs_in_slot_order([run.pk for run in runs]), many=True).data,
                        status=status.HTTP_201_CREATED)


class PipelineGrid(ApiView):
    schema_tags = ["runs"]

    @doc(summary="The grid of recent runs by ops (Airflow's grid view), newest run first",
         parameters=[GridQuerySerializer], responses={200: GridSerializer})
    def get(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.READ), name)
        filters = self.query(GridQuerySerializer)
        return Response(GridSerializer(recent_runs_grid(pipeline, limit=filters["limit"])).data)


# The header that lists what the target only emulates, as JSON ([{"where", "message"}], ASCII).
WARNINGS_HEADER = "X-Polyflow-Export-Warnings"


class PipelineExport(ApiView):
    schema_tags = ["pipelines"]

    @doc(summary="The pipeline exported for another engine: an Airflow DAG file or an Argo Workflows document",
         description="The file itself (`text/x-python` for Airflow, `application/yaml` for Argo), with a "
                     "Content-Disposition filename. What the target only emulates is listed in the "
                     f"`{WARNINGS_HEADER}` header (JSON: `[{{\"where\", \"message\"}}]`); a pipeline that "
                     "uses features the target cannot express is a 422 listing each of them (docs/interop.md).",
         parameters=[ExportQuerySerializer],
         responses={
             (200, "text/x-python"): OpenApiResponse(OpenApiTypes.STR, description="an Airflow DAG file"),
             # A YAML client reads the document as a mapping (a Workflow or CronWorkflow); a second
             # document, the semaphores' ConfigMap, follows only for ops with a concurrency.
             (200, "application/yaml"): OpenApiResponse(
                 OpenApiTypes.OBJECT, description="an Argo Workflow or CronWorkflow (then a ConfigMap of its "
                                                  "semaphores when an op has a concurrency)"),
             422: OpenApiResponse(ErrorSerializer, description="features the target cannot express (`errors`: "
                                                               "each with its place in the pipeline)"),
         })
    def get(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.READ), name)
        query = self.query(ExportQuerySerializer)
        exported = export_pipeline(pipeline, query.pop("to"), query)
        response = HttpResponse(exported.text, content_type=f"{exported.media_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response[WARNINGS_HEADER] = json.dumps([{"where": item.where, "message": item.message}
                                                for item in exported.warnings])
        return response
