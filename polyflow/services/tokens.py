"""API tokens for `polyflow login`: a user's name and password exchanged for their DRF token."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import authenticate

from ..exceptions import AuthenticationFailed, NotFound

AUTHTOKEN_APP = "rest_framework.authtoken"


def tokens_issued() -> bool:
    """Whether this project keeps DRF tokens (the standalone project does; a host may not)."""
    return apps.is_installed(AUTHTOKEN_APP)


def issue_token(username: str, password: str, request=None) -> tuple[str, object]:
    """The user's token (made on first use) and the user; refused alike for an unknown user, a wrong
    password and an inactive user: which one is not told."""
    if not tokens_issued():
        raise NotFound(f"this server issues no API tokens: {AUTHTOKEN_APP!r} is not in its INSTALLED_APPS; ask "
                       "its administrator for a token (or for the app), then `polyflow login --token`")
    from rest_framework.authtoken.models import Token

    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise AuthenticationFailed("wrong username or password")
    token, _ = Token.objects.get_or_create(user=user)
    return token.key, user
