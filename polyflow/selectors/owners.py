from __future__ import annotations

from django.contrib.auth import get_user_model

from ..access import Access, owner_access_level
from ..exceptions import NotFound, PermissionDenied
from ..models import ProjectMember


def get_registry_owner(user, username: str, need: Access = Access.READ):
    """The user `username` if `user` has `need` access to their registry (actions and events).

    As for projects: no access at all is NotFound, so owners do not leak to
    strangers; some access but not enough is PermissionDenied.
    """
    owner = get_user_model().objects.filter(username=username).first()
    level = Access.NONE
    if owner is not None:
        roles = []
        if user.is_authenticated and not user.is_staff and owner.pk != user.pk:
            roles = (ProjectMember.objects.filter(user=user, project__owner=owner)
                     .values_list("role", flat=True).distinct())
        level = owner_access_level(user, owner, roles)
    if level == Access.NONE:
        raise NotFound(f"owner {username!r} not found")
    if level < need:
        raise PermissionDenied(f"your role in {username}'s projects does not allow this")
    return owner
