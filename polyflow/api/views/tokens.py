"""POST /api/v1/token/: `polyflow login` with a username and password."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ...services.tokens import issue_token
from ..schema import doc
from ..serializers.fields import Text
from .base import ApiView


class TokenRequestSerializer(serializers.Serializer):
    username = Text(max_length=150)
    password = Text(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="send it as `Authorization: Token <token>`")
    user = serializers.CharField(help_text="whose token it is")


class TokenView(ApiView):
    """Open to anyone, as a login form is: the password is the credential. No session is read, so
    that no CSRF token is asked for."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema_tags = ["api"]

    @doc(summary="Your API token, for your username and password (`polyflow login`)",
         description="The same token every time (made on the first call); a wrong username or password is a "
                     "401 that does not say which. A server whose Django project does not have "
                     "`rest_framework.authtoken` installed issues no tokens: 404, saying so.",
         request=TokenRequestSerializer, responses={200: TokenSerializer})
    def post(self, request):
        data = self.body(TokenRequestSerializer)
        key, user = issue_token(data["username"], data["password"], request=request)
        return Response(TokenSerializer({"token": key, "user": user.get_username()}).data)
