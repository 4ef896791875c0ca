from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..exceptions import Conflict, InvalidInput, NotFound
from ..models import ProjectMember
from ..models.project import name_validator
from ..selectors.projects import get_member, project_model
from ..spec.fields import dns1123_label_error
from ..statuses import RUN_ACTIVE

# The API serves {owner}/projects/, {owner}/actions/ and {owner}/events/ beside
# {owner}/{project}/: a project with one of these names could not be reached.
RESERVED_PROJECT_NAMES = frozenset({"projects", "actions", "events"})


def _check_name(name) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidInput("a project needs a name", [{"source": "", "path": "name", "message": "required"}])
    error = dns1123_label_error(name)
    if error:
        raise InvalidInput(error, [{"source": "", "path": "name", "message": error}])
    if name in RESERVED_PROJECT_NAMES:
        error = f"{name!r} is reserved: the API's {{owner}}/{name}/ path is not a project"
        raise InvalidInput(error, [{"source": "", "path": "name", "message": error}])
    try:
        name_validator(name)
    except ValidationError as exc:  # pragma: no cover - dns1123_label_error is stricter
        raise InvalidInput(str(exc)) from None


def create_project(owner, name: str, description: str = ""):
    _check_name(name)
    try:
        with transaction.atomic():
            return project_model().objects.create(owner=owner, name=name, description=description)
    except IntegrityError:
        raise Conflict(f"project {owner.get_username()}/{name} already exists") from None


def update_project(project, *, name: str | None = None, description: str | None = None):
    if name is not None and name != project.name:
        _check_name(name)
        project.name = name
    if description is not None:
        project.description = description
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError:
        raise Conflict(f"project {project.owner.get_username()}/{name} already exists") from None
    return project


def delete_project(project) -> None:
    active = project.polyflow_pipelines.filter(runs__status__in=RUN_ACTIVE).count()
    if active:
        raise Conflict(f"project {project} has {active} active run(s); stop them first")
    project.delete()


def _user(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        # 404, as for any object a request names that does not exist; the path says which.
        raise NotFound(f"user {username!r} not found",
                       [{"source": "", "path": "user", "message": f"unknown user {username!r}"}])
    return user


def _check_role(role: str) -> None:
    if role not in ProjectMember.Role.values:
        message = f"unknown role {role!r} (roles: {', '.join(ProjectMember.Role.values)})"
        raise InvalidInput(message, [{"source": "", "path": "role", "message": message}])


def add_member(project, username: str, role: str) -> ProjectMember:
    _check_role(role)
    user = _user(username)
    if user.pk == project.owner_id:
        raise InvalidInput(f"{username} owns the project already")
    try:
        with transaction.atomic():
            return ProjectMember.objects.create(project=project, user=user, role=role)
    except IntegrityError:
        raise Conflict(f"{username} is a member of {project} already") from None


def change_role(project, username: str, role: str) -> ProjectMember:
    _check_role(role)
    member = get_member(project, username)
    member.role = role
    member.save(update_fields=["role"])
    return member


def remove_member(project, username: str) -> None:
    get_member(project, username).delete()
