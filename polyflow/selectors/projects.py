from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from ..access import MEMBER_ACCESS, Access, access_level
from ..exceptions import NotFound, PermissionDenied
from ..models import ProjectMember, project_model_name


def project_model():
    return apps.get_model(project_model_name(), require_ready=False)


def visible_projects(user) -> QuerySet:
    projects = project_model().objects.select_related("owner")
    if not user.is_authenticated:
        return projects.none()
    if user.is_staff:
        return projects
    return projects.filter(Q(owner=user) | Q(polyflow_members__user=user)).distinct()


def projects_acted_on(user, owner) -> QuerySet:
    """The owner's projects in which `user` may act (apply, trigger, stop...)."""
    projects = project_model().objects.filter(owner=owner)
    if not user.is_authenticated:
        return projects.none()
    if user.is_staff or owner.pk == user.pk:
        return projects
    roles = [role for role, level in MEMBER_ACCESS.items() if level >= Access.ACT]
    return projects.filter(polyflow_members__user=user, polyflow_members__role__in=roles).distinct()


def member_role(user, project) -> str | None:
    if not user.is_authenticated:
        return None
    return (ProjectMember.objects.filter(project=project, user=user)
            .values_list("role", flat=True).first())


def get_project(user, owner: str, name: str, need: Access = Access.READ):
    """The project `owner/name` if the user has `need` access to it.

    A user who may read but not act gets a 403-worthy PermissionDenied; one who
    may not even read gets NotFound, so names do not leak.
    """
    project = (project_model().objects.select_related("owner")
               .filter(owner__username=owner, name=name).first())
    level = access_level(user, project, member_role(user, project)) if project else Access.NONE
    if level == Access.NONE:
        raise NotFound(f"project {owner}/{name} not found")
    if level < need:
        raise PermissionDenied(f"your role in {owner}/{name} does not allow this")
    return project


def get_owner(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"owner {username!r} not found")
    return user


def members_of(project) -> QuerySet:
    return ProjectMember.objects.filter(project=project).select_related("user").order_by("user__username")


def get_member(project, username: str) -> ProjectMember:
    member = members_of(project).filter(user__username=username).first()
    if member is None:
        raise NotFound(f"{username} is not a member of {project}")
    return member


def project_by_name(owner: str, name: str):
    """The project `owner/name`, for callers that see every project (the command line)."""
    project = (project_model().objects.select_related("owner")
               .filter(owner__username=owner, name=name).first())
    if project is None:
        raise NotFound(f"project {owner}/{name} not found")
    return project
