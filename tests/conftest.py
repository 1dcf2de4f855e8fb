from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from tests import live_processes
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


@pytest.fixture
def redis_namespace(settings) -> Iterator[live_processes.RedisNamespace]:  # type: ignore[no-untyped-def]
    """Channel-layer and cache prefixes of this test's own, deleted from Redis afterwards."""
    with live_processes.redis_namespace_isolate(settings) as namespace:
        yield namespace
