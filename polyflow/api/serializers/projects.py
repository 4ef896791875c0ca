from rest_framework import serializers

from ...models import ProjectMember
from .fields import Name, Text


class ProjectSerializer(serializers.Serializer):
    owner = serializers.CharField(source="owner.username")
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProjectCreateSerializer(serializers.Serializer):
    name = Name()
    description = Text(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    name = Name(required=False)
    description = Text(required=False, allow_blank=True)


class MemberSerializer(serializers.Serializer):
    user = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices)
    created_at = serializers.DateTimeField()


class MemberCreateSerializer(serializers.Serializer):
    # Not stripped: a username is matched exactly (a blank one is no user, never a 400 the schema allows).
    user = Text(max_length=150, trim_whitespace=False, help_text="a username")
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices, default=ProjectMember.Role.VIEWER)


class MemberUpdateSerializer(serializers.Serializer):
    # Optional, as a PATCH's fields are: `{}` changes nothing.
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices, required=False)
