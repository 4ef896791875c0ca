"""An op run's artifacts, a run's, and their downloads (DESIGN section 10).

Downloads stream from the store (StreamingHttpResponse, a chunk at a time): a file as
it is, a directory as a tar archive made while it streams (or one of its files with
`?file=`). The permissions are the run's: who cannot read the run gets a 404.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from django.http import StreamingHttpResponse

from ...artifacts.store import DIRECTORY, StoreError, settings_store
from ...artifacts.streams import file_chunks, tar_chunks
from ...exceptions import InvalidInput, NotFound, StoreUnavailable
from ...selectors.artifacts import get_artifact, op_run_artifacts, run_artifacts
from ..schema import doc
from ..serializers.artifacts import ArtifactSerializer, DownloadQuerySerializer
from .runs import RunView


class _ArtifactView(RunView):
    schema_tags = ["artifacts"]

    def the_op_run(self):
        if "index" in self.kwargs:
            return self.trial()
        return self.op_run()


class RunArtifacts(_ArtifactView):
    @doc(summary="Every artifact of the run's op runs", responses={200: ArtifactSerializer(many=True)})
    def get(self, request, owner, project, uuid):
        artifacts = run_artifacts(self.bare_run())
        return self.paginated(artifacts, ArtifactSerializer)


class OpRunArtifacts(_ArtifactView):
    @doc(summary="The artifacts the op run's current attempt stored", responses={200: ArtifactSerializer(many=True)})
    def get(self, request, owner, project, uuid, op, index=None):
        return self.paginated(op_run_artifacts(self.the_op_run()), ArtifactSerializer)


class ArtifactDownload(_ArtifactView):
    @doc(summary="Download an artifact, streamed from the store",
         description="A file comes as it was stored (`application/octet-stream` or its type by name); a "
                     "directory as a tar archive of its files (`application/x-tar`), or one of them with "
                     "`?file=`. A store that cannot give it answers 502 with its reason.",
         parameters=[DownloadQuerySerializer],
         responses={(200, "application/octet-stream"): bytes})
    def get(self, request, owner, project, uuid, op, name, index=None):
        query = self.query(DownloadQuerySerializer)
        artifact = get_artifact(self.the_op_run(), name)
        store = _store()
        relative = query.get("file")
        try:
            if artifact.kind == DIRECTORY and not relative:
                filename = f"{artifact.name}.tar"
                response = StreamingHttpResponse(tar_chunks(store, artifact.uri, artifact.name),
                                                 content_type="application/x-tar")
            else:
                uri = artifact.uri
                filename = artifact.name
                if relative:
                    uri, filename = _file_of(artifact, relative), relative.rsplit("/", 1)[-1]
                response = StreamingHttpResponse(file_chunks(store, uri),
                                                 content_type=mimetypes.guess_type(filename)[0]
                                                 or "application/octet-stream")
                if not relative:
                    response["Content-Length"] = str(artifact.size)
        except StoreError as error:
            if "no artifact at" in str(error):
                raise NotFound(f"artifact {artifact.name!r} is recorded but not in the store: {error}") from None
            raise StoreUnavailable(str(error)) from None
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        response["X-Polyflow-Digest"] = artifact.digest
        return response


def _store():
    try:
        return settings_store()
    except StoreError as error:
        raise StoreUnavailable(str(error)) from None


def _file_of(artifact, relative: str) -> str:
    parts = relative.strip("/").split("/")
    if artifact.kind != DIRECTORY:
        raise InvalidInput(f"artifact {artifact.name!r} is a file: `file` is for a directory's files")
    if not relative.strip("/") or any(part in ("", ".", "..") for part in parts):
        raise InvalidInput(f"file {relative!r}: give a path inside the directory, such as 'part/b.csv'")
    return f"{artifact.uri}/{'/'.join(parts)}"


__all__ = ["ArtifactDownload", "OpRunArtifacts", "RunArtifacts"]
