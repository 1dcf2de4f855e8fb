from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import OperatorFactory, UserFactory


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    return UserFactory()


@pytest.fixture
def operator(db):  # type: ignore[no-untyped-def]
    return OperatorFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_api_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client
