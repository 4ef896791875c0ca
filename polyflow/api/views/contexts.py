from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from ...access import Access
from ...services.build_contexts import upload_context
from ..parsers import BINARY_PARSERS, BinaryStream
from ..schema import doc
from ..serializers.contexts import ContextSerializer, ContextUploadQuerySerializer
from .base import ApiView


class ContextUpload(ApiView):
    schema_tags = ["pipelines"]
    parser_classes = BINARY_PARSERS

    @doc(summary="Upload a build context (a tar.gz of a spec's directory), stored by its digest",
         description="The body is the tar.gz itself (`application/octet-stream` or `application/gzip`), at most "
                     "`POLYFLOW['MAX_CONTEXT_BYTES']` (413 over it); `digest` must be its sha256 and it must "
                     "unpack (422 otherwise). A pipeline then names it with `?context=<digest>`. Uploading the "
                     "same bytes again is fine (201, `created` false: the store had them).",
         parameters=[ContextUploadQuerySerializer],
         request={"application/octet-stream": {"type": "string", "format": "binary"}},
         responses={201: ContextSerializer})
    def post(self, request, owner, project):
        project = self.project(Access.ACT)
        digest = self.query(ContextUploadQuerySerializer)["digest"]
        body = request.data if isinstance(request.data, BinaryStream) else BinaryStream(None)
        packed, created = upload_context(project, body, digest)
        data = {**packed.to_dict(), "created": created}
        data.pop("files", None)
        return Response(ContextSerializer(data).data, status=status.HTTP_201_CREATED)
