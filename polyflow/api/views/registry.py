"""An owner's registry: actions and events. Readable by the owner, staff and
members of any of the owner's projects; added to (and events fired) by the
owner, staff and users with role `member` in one of them."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from ...access import Access
from ...selectors.owners import get_registry_owner
from ...selectors.projects import projects_acted_on
from ...selectors.registry import action_versions, events_of, latest_actions
from ...selectors.runs import runs_by_ids
from ...services.events import fire_event
from ...services.registry import apply_owner_documents
from ..documents import documents_from_body
from ..parsers import YAML_PARSERS, StrictJSONParser
from ..schema import doc
from ..serializers.documents import document_request
from ..serializers.registry import (
    ActionDetailSerializer,
    ActionSerializer,
    ActionVersionSerializer,
    EventSerializer,
    FiredSerializer,
    FireSerializer,
)
from .base import ApiView


class OwnerView(ApiView):
    def owner(self, need: Access = Access.READ):
        return get_registry_owner(self.request.user, self.kwargs["owner"], need=need)


class ActionList(OwnerView):
    schema_tags = ["actions"]
    parser_classes = [StrictJSONParser, *YAML_PARSERS]

    @doc(summary="The owner's actions, each at its latest version",
         responses={200: ActionSerializer(many=True)})
    def get(self, request, owner):
        return self.paginated(latest_actions(self.owner()), ActionSerializer)

    @doc(summary="Add an action version from a `kind: action` document (its `version`, or the next)",
         request=document_request("action"), responses={201: ActionVersionSerializer})
    def post(self, request, owner):
        owner = self.owner(Access.ACT)
        raws, contents = documents_from_body(request.data)
        result = apply_owner_documents(owner, raws, contents=contents, user=request.user, expect_kind="action")
        return Response(ActionVersionSerializer(result.actions[0]).data, status=status.HTTP_201_CREATED)


class ActionDetail(OwnerView):
    schema_tags = ["actions"]

    @doc(summary="An action with all its versions", responses={200: ActionDetailSerializer})
    def get(self, request, owner, name):
        versions = action_versions(self.owner(), name)
        latest = versions[0]
        return Response(ActionDetailSerializer({"name": latest.name, "latest_version": latest.version,
                                                "description": latest.description, "versions": versions}).data)


class EventList(OwnerView):
    schema_tags = ["events"]
    parser_classes = [StrictJSONParser, *YAML_PARSERS]

    @doc(summary="The owner's events", responses={200: EventSerializer(many=True)})
    def get(self, request, owner):
        return self.paginated(events_of(self.owner()), EventSerializer)

    @doc(summary="Create or update an event from a `kind: event` document",
         request=document_request("event"), responses={201: EventSerializer})
    def post(self, request, owner):
        owner = self.owner(Access.ACT)
        raws, contents = documents_from_body(request.data)
        result = apply_owner_documents(owner, raws, contents=contents, user=request.user, expect_kind="event")
        event, _ = result.events[0]
        return Response(EventSerializer(event).data, status=status.HTTP_201_CREATED)


class EventFire(OwnerView):
    schema_tags = ["events"]

    @doc(summary="Fire an event: one run of each subscribed, unpaused pipeline",
         description="The payload is checked against the event's inputs. Only the pipelines of "
                     "projects where you may trigger runs are started, and the answer lists those runs.",
         request=FireSerializer, responses={201: FiredSerializer})
    def post(self, request, owner, name):
        owner = self.owner(Access.ACT)
        data = self.body(FireSerializer)
        allowed = list(projects_acted_on(request.user, owner).values_list("pk", flat=True))
        runs = fire_event(owner, name, data["payload"], user=request.user, in_projects=allowed)
        shown = runs_by_ids([run.pk for run in runs], allowed)
        return Response(FiredSerializer({"event": name, "runs": shown}).data, status=status.HTTP_201_CREATED)
