from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from ...access import Access, may_create_projects
from ...exceptions import PermissionDenied
from ...selectors.projects import get_member, get_owner, members_of, visible_projects
from ...services import projects as services
from ..schema import doc
from ..serializers.projects import (
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)
from .base import ApiView


class ProjectList(ApiView):
    schema_tags = ["projects"]

    @doc(summary="The owner's projects that you may see", responses={200: ProjectSerializer(many=True)})
    def get(self, request, owner):
        # An owner with no project you may see and a user who does not exist answer alike:
        # user names are not to be found out this way.
        return self.paginated(visible_projects(request.user).filter(owner__username=owner).order_by("name"),
                              ProjectSerializer)

    @doc(summary="Create a project (as its owner, or staff)", request=ProjectCreateSerializer,
         responses={201: ProjectSerializer})
    def post(self, request, owner):
        if not (request.user.is_staff or request.user.get_username() == owner):
            # Refused before looking the owner up, so that whether it exists does not show.
            raise PermissionDenied(f"only {owner} (or staff) may create projects under that name")
        owner = get_owner(owner)
        if not may_create_projects(request.user, owner):
            raise PermissionDenied(f"only {owner.get_username()} (or staff) may create projects under that name")
        data = self.body(ProjectCreateSerializer)
        project = services.create_project(owner, data["name"], data["description"])
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(ApiView):
    schema_tags = ["projects"]

    @doc(summary="A project", responses={200: ProjectSerializer}, operation_id="project_retrieve")
    def get(self, request, owner, project):
        return Response(ProjectSerializer(self.project(Access.READ)).data)

    @doc(summary="Rename or describe a project (owner or staff)", request=ProjectUpdateSerializer,
         responses={200: ProjectSerializer}, operation_id="project_partial_update")
    def patch(self, request, owner, project):
        project = self.project(Access.ADMIN)
        data = self.body(ProjectUpdateSerializer)
        project = services.update_project(project, name=data.get("name"), description=data.get("description"))
        return Response(ProjectSerializer(project).data)

    @doc(summary="Delete a project and everything in it (owner or staff; 409 while runs are active)",
         responses={204: None}, operation_id="project_destroy")
    def delete(self, request, owner, project):
        services.delete_project(self.project(Access.ADMIN))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberList(ApiView):
    schema_tags = ["members"]

    @doc(summary="The project's members", responses={200: MemberSerializer(many=True)})
    def get(self, request, owner, project):
        project = self.project(Access.READ)
        return self.paginated(members_of(project), MemberSerializer)

    @doc(summary="Add a member (owner or staff)", request=MemberCreateSerializer,
         responses={201: MemberSerializer})
    def post(self, request, owner, project):
        project = self.project(Access.ADMIN)
        data = self.body(MemberCreateSerializer)
        member = services.add_member(project, data["user"], data["role"])
        return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetail(ApiView):
    schema_tags = ["members"]

    @doc(summary="A member", responses={200: MemberSerializer})
    def get(self, request, owner, project, user):
        return Response(MemberSerializer(get_member(self.project(Access.READ), user)).data)

    @doc(summary="Change a member's role (owner or staff)", request=MemberUpdateSerializer,
         responses={200: MemberSerializer})
    def patch(self, request, owner, project, user):
        project = self.project(Access.ADMIN)
        data = self.body(MemberUpdateSerializer)
        member = services.change_role(project, user, data["role"]) if "role" in data else get_member(project, user)
        return Response(MemberSerializer(member).data)

    @doc(summary="Remove a member (owner or staff)", responses={204: None})
    def delete(self, request, owner, project, user):
        services.remove_member(self.project(Access.ADMIN), user)
        return Response(status=status.HTTP_204_NO_CONTENT)

