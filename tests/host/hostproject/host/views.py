"""A view of the host's own API, which keeps the host's DRF defaults (Basic, staff only)."""

from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmI(APIView):
    def get(self, request):
        return Response({"user": request.user.get_username()})
