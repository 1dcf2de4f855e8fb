"""The operators' admin: branding, sign-in through allauth, MFA when required, task runs with progress."""

from __future__ import annotations

import json

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib import admin
from django.urls import reverse
from django_celery_results.models import TaskResult

from hftplatform.admin import TaskRunAdmin

pytestmark = pytest.mark.django_db


def test_admin_login_goes_through_allauth(client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    login = client.get(response["Location"])
    assert login.status_code == 302
    assert login["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_operator_sees_the_branded_admin(client, operator) -> None:
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"HFT Bot operations" in response.content


def test_depositor_is_not_let_into_the_admin(client, user) -> None:
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_when_mfa_is_required_an_operator_without_totp_is_sent_to_set_it_up(client, operator, settings) -> None:
    settings.ADMIN_REQUIRES_MFA = True
    client.force_login(operator)
    response = client.get("/admin/", follow=False)
    assert response.status_code == 302
    redirect = client.get(response["Location"])
    assert redirect.status_code == 302
    assert redirect["Location"].startswith(reverse("mfa_activate_totp"))


def test_when_mfa_is_required_an_operator_with_totp_gets_in(client, operator, settings) -> None:
    settings.ADMIN_REQUIRES_MFA = True
    TOTP.activate(operator, generate_totp_secret())
    client.force_login(operator)
    assert client.get("/admin/").status_code == 200


def test_task_runs_list_shows_progress(client, operator) -> None:
    TaskResult.objects.create(
        task_id="t-1",
        task_name="marketdata.tasks.klines_backfill",
        status="PROGRESS",
        result=json.dumps({"done": 250, "total": 1000, "message": "BTCUSDT 1m"}),
    )
    TaskResult.objects.create(task_id="t-2", task_name="hftplatform.tasks.platform_status_broadcast", status="SUCCESS")
    client.force_login(operator)
    response = client.get("/admin/django_celery_results/taskresult/")
    assert response.status_code == 200
    assert b"250 / 1000 (25%) BTCUSDT 1m" in response.content
    assert b"marketdata.tasks.klines_backfill" in response.content


def test_progress_column_handles_odd_meta() -> None:
    column = TaskRunAdmin(TaskResult, admin.site).progress
    assert column(TaskResult(status="PROGRESS", result="not json")) == "—"
    assert column(TaskResult(status="PROGRESS", result=json.dumps({"done": 0, "total": 0}))) == "0 / 0"
    assert column(TaskResult(status="PENDING")) == "—"
    assert column(TaskResult(status="SUCCESS")) == "done"
