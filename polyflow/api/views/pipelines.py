from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from ...access import Access
from ...selectors.pipelines import get_pipeline, pipelines_of
from ...selectors.runs import runs_of
from ...services.apply import apply_documents
from ...services.pipelines import delete_pipeline, set_paused
from ...services.runs import trigger_run
from ..documents import documents_from_body
from ..parsers import YAML_PARSERS, StrictJSONParser
from ..schema import doc
from ..serializers.documents import document_request
from ..serializers.pipelines import PipelineDetailSerializer, PipelineSerializer
from ..serializers.runs import RunFilterSerializer, RunSerializer, TriggerSerializer
from .base import ApiView


class PipelineList(ApiView):
    schema_tags = ["pipelines"]
    parser_classes = [StrictJSONParser, *YAML_PARSERS]

    @doc(summary="The project's pipelines", responses={200: PipelineSerializer(many=True)})
    def get(self, request, owner, project):
        return self.paginated(pipelines_of(self.project(Access.READ)), PipelineSerializer)

    @doc(summary="Create a pipeline from its document (409 when it exists)",
         request=document_request("pipeline"), responses={201: PipelineDetailSerializer})
    def post(self, request, owner, project):
        project = self.project(Access.ACT)
        raws, contents = documents_from_body(request.data)
        result = apply_documents(project, raws, contents=contents, user=request.user, expect_kind="pipeline",
                                 mode="create")
        pipeline, _ = result.pipelines[0]
        return Response(PipelineDetailSerializer(pipeline).data, status=status.HTTP_201_CREATED)


class PipelineDetail(ApiView):
    schema_tags = ["pipelines"]
    parser_classes = [StrictJSONParser, *YAML_PARSERS]

    @doc(summary="A pipeline, with its document and plan", responses={200: PipelineDetailSerializer})
    def get(self, request, owner, project, name):
        return Response(PipelineDetailSerializer(get_pipeline(self.project(Access.READ), name)).data)

    @doc(summary="Replace a pipeline's document (the name must stay); runs already created keep "
                 "their plan", request=document_request("pipeline"),
         responses={200: PipelineDetailSerializer})
    def put(self, request, owner, project, name):
        project = self.project(Access.ACT)
        get_pipeline(project, name)
        raws, contents = documents_from_body(request.data)
        result = apply_documents(project, raws, contents=contents, user=request.user, expect_kind="pipeline",
                                 mode="update", expect_name=name)
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


class PipelineRuns(ApiView):
    schema_tags = ["runs"]

    @doc(summary="The pipeline's runs, with their op runs", parameters=[RunFilterSerializer],
         responses={200: RunSerializer(many=True)})
    def get(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.READ), name)
        filters = self.query(RunFilterSerializer)
        runs = runs_of(pipeline.project, pipeline=pipeline.name, statuses=filters.get("status", ()),
                       created_after=filters.get("created_after"), created_before=filters.get("created_before"),
                       ordering=filters["ordering"])
        return self.paginated(runs, RunSerializer)

    @doc(summary="Trigger a run now, with param overrides per op", request=TriggerSerializer,
         responses={201: RunSerializer})
    def post(self, request, owner, project, name):
        pipeline = get_pipeline(self.project(Access.ACT), name)
        data = self.body(TriggerSerializer)
        run = trigger_run(pipeline, params=data.get("params"), user=request.user)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)
