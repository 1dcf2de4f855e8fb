"""The one check every operator action goes through — REST, admin actions, pages: an active operator, in a
session (never an API token), with an authenticator set up and confirmed with it within the last 15 minutes
(allauth's authentication records; :mod:`accounts.core.operator_mfa` decides).

- :func:`operator_access_check` raises :class:`OperatorAccessDenied` (a 403 ``ServiceError`` with a stable code and
  a message telling the operator to re-authenticate with their authenticator);
- :class:`IsOperatorWithFreshMfa` is the DRF permission;
- :func:`operator_mfa_required` guards a Django view, :func:`operator_action_mfa_required` an admin action.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from allauth.account.authentication import get_authentication_records
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts import selectors
from accounts.core.operator_mfa import operator_refusal
from accounts.models import User
from hftplatform.errors import ServiceError

OPERATOR_MFA_MAX_AGE_SECONDS = 15 * 60


class OperatorAccessDenied(ServiceError):
    code = "operator_mfa_required"
    http_status = 403


def operator_access_check(request: HttpRequest | Request, *, now: float | None = None) -> User:
    """The signed-in operator, if this request may perform an operator action; else :class:`OperatorAccessDenied`.

    A DRF request counts as a session only when DRF's session authentication authenticated it (a bearer token, or
    any other scheme, never does); a plain Django request is always a session's."""
    user = request.user
    via_session = (
        isinstance(request.successful_authenticator, SessionAuthentication) if isinstance(request, Request) else True
    )
    operator = user if isinstance(user, User) and user.is_active and user.is_staff else None
    django_request = request._request if isinstance(request, Request) else request
    refusal = operator_refusal(
        is_operator=operator is not None,
        via_session=via_session,
        has_authenticator=operator is not None and selectors.user_has_authenticator(user_id=operator.pk),
        records=get_authentication_records(django_request, operator) if operator is not None and via_session else [],
        now=time.time() if now is None else now,
        max_age_seconds=OPERATOR_MFA_MAX_AGE_SECONDS,
    )
    if refusal is not None:
        raise OperatorAccessDenied(refusal.message, code=refusal.code)
    assert operator is not None  # operator_refusal refuses a non-operator
    return operator


class IsOperatorWithFreshMfa(BasePermission):
    """DRF: operator actions only from an operator's session with MFA confirmed in the last 15 minutes. A refusal
    answers 403 in the API's error format with its code (``operator_session_required``, ``mfa_not_set_up``,
    ``mfa_reauthentication_required``, ``operators_only``)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        operator_access_check(request)
        return True


View = TypeVar("View", bound=Callable[..., HttpResponse])


def operator_mfa_required(view: View) -> View:
    """A Django view for operator actions: refused with a 403 page saying how to re-authenticate."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            operator_access_check(request)
        except OperatorAccessDenied as error:
            return HttpResponseForbidden(f"{error.code}: {error.message}", content_type="text/plain; charset=utf-8")
        return view(request, *args, **kwargs)

    return guarded  # type: ignore[return-value]


Action = TypeVar("Action", bound=Callable[..., Any])


def operator_action_mfa_required(action: Action) -> Action:
    """An admin action (``(modeladmin, request, queryset)``) for operator actions: refused with an error message on
    the changelist, nothing done."""

    @functools.wraps(action)
    def guarded(modeladmin: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            operator_access_check(request)
        except OperatorAccessDenied as error:
            modeladmin.message_user(request, f"{error.code}: {error.message}", messages.ERROR)
            return None
        return action(modeladmin, request, *args, **kwargs)

    return guarded  # type: ignore[return-value]
