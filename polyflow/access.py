"""Who may do what in a project (pure rules; the selectors apply them to querysets).

Roles: the project's owner and staff users administer it; members with role
`member` read and act (apply, trigger, stop, retry, pause); `viewer` reads. To
anyone else a project does not exist.
"""

from __future__ import annotations

from enum import IntEnum


class Access(IntEnum):
    NONE = 0
    READ = 1
    ACT = 2
    ADMIN = 3


MEMBER_ACCESS = {"viewer": Access.READ, "member": Access.ACT}


def access_level(user, project, member_role: str | None) -> Access:
    """`member_role` is the user's ProjectMember role in the project, if any."""
    if user is None or not user.is_authenticated:
        return Access.NONE
    if user.is_staff or project.owner_id == user.pk:
        return Access.ADMIN
    return MEMBER_ACCESS.get(member_role, Access.NONE)


def owner_access_level(user, owner, member_roles) -> Access:
    """Access to an owner's registry (actions and events).

    The owner and staff administer it; a member of any of the owner's projects
    gets the best access that their roles (`member_roles`) there give.
    """
    if user is None or not user.is_authenticated:
        return Access.NONE
    if user.is_staff or owner.pk == user.pk:
        return Access.ADMIN
    return max((MEMBER_ACCESS.get(role, Access.NONE) for role in member_roles), default=Access.NONE)


def may_create_projects(user, owner) -> bool:
    """Projects are created under one's own name; staff may create them under anyone's."""
    return user is not None and user.is_authenticated and (user.is_staff or owner.pk == user.pk)
