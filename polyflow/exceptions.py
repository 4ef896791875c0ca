"""Errors that services raise; the API turns each into its HTTP status, the CLI into exit 1.

Every error carries a machine-readable `code`, a human `message` and, for
invalid input, `errors`: a list of {"source", "path", "message"} items.
"""

from __future__ import annotations

from collections.abc import Iterable


class PolyflowError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str, errors: Iterable[dict] = ()):
        super().__init__(message)
        self.message = message
        self.errors = list(errors)


class InvalidInput(PolyflowError):
    """A body, param or name that cannot be used (HTTP 400)."""

    code = "invalid"


class Unprocessable(InvalidInput):
    """A body of the shape the API's schema gives, that the pipeline's own rules refuse:
    params against its inputs, a payload against its event's (HTTP 422, as Kubernetes
    answers an object that is well-formed but invalid)."""

    status_code = 422


class MissingSettings(Unprocessable):
    """Valid documents that this server's backend cannot run as its settings are (no
    BUILD_REGISTRY for a build without an image, no context, an artifact store that cannot be
    used): every one at once, at apply time, rather than a failed run later (HTTP 422: the
    body is well-formed and valid; what is missing is on the server's side)."""

    code = "missing_settings"


class InvalidSpec(Unprocessable):
    """A spec text that is no YAML, is over an input limit, or holds documents that do not
    validate: `errors` holds every spec error (HTTP 422; no schema can say what the spec
    language accepts)."""

    code = "invalid_spec"

    @classmethod
    def from_spec_errors(cls, spec_errors) -> InvalidSpec:
        items = [{"source": e.source, "path": e.path, "message": e.message} for e in spec_errors]
        count = len(items)
        return cls(f"{count} error{'s' if count != 1 else ''} in the documents", items)


class TooLarge(PolyflowError):
    """A body over its own size limit (HTTP 413)."""

    status_code = 413
    code = "too_large"


class Unavailable(PolyflowError):
    """A service Polyflow depends on (the artifact store) could not be used (HTTP 503)."""

    status_code = 503
    code = "unavailable"


class NotFound(PolyflowError):
    """Absent, or not visible to the user: the two are never told apart (HTTP 404)."""

    status_code = 404
    code = "not_found"


class Conflict(PolyflowError):
    """The object's state does not allow the action now (HTTP 409)."""

    status_code = 409
    code = "conflict"


class AuthenticationFailed(PolyflowError):
    """Credentials that identify nobody: a wrong username or password (HTTP 401)."""

    status_code = 401
    code = "authentication_failed"


class PermissionDenied(PolyflowError):
    """Visible to the user, but their role does not allow the action (HTTP 403)."""

    status_code = 403
    code = "permission_denied"


class StoreUnavailable(PolyflowError):
    """The artifact store could not give what was asked for now (HTTP 502): the message names it."""

    status_code = 502
    code = "artifact_store"
