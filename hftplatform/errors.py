"""The error every service raises when it refuses an operation. No web framework here: services import it."""

from __future__ import annotations


class ServiceError(Exception):
    """A service refused an operation; interfaces turn it into a 4xx (the API: the common error format).

    Subclasses set a stable machine-readable ``code`` and the HTTP status an API answers with.
    """

    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}
