"""What the custody services refuse with: each error is a :class:`hftplatform.errors.ServiceError` with a stable
``code`` (the API's error code) and an HTTP status."""

from __future__ import annotations

from hftplatform.errors import ServiceError


class CustodyError(ServiceError):
    code = "custody_refused"


class ProposalNotFoundError(CustodyError):
    code = "not_found"
    http_status = 404


class ProposalStateError(CustodyError):
    """The proposal (or withdrawal) is not in a state that allows this step; ``code`` says which."""

    code = "proposal_state"
    http_status = 409


class CustodyForbiddenError(CustodyError):
    code = "forbidden"
    http_status = 403


class CustodyUnavailableError(CustodyError):
    """A key or a chain connection the step needs is not configured."""

    code = "custody_unavailable"
    http_status = 503
