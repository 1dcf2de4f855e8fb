"""Django and a scratch database for the benchmarks that measure PostgreSQL work (created, then dropped)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hftplatform.settings")
    import django

    django.setup()


@contextmanager
def scratch_database() -> Iterator[None]:
    """A fresh, migrated ``test_<name>`` database of the configured server for the duration of a benchmark."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    config = setup_databases(verbosity=0, interactive=False, keepdb=False, aliases={"default"})
    try:
        connection.ensure_connection()
        yield
    finally:
        teardown_databases(config, verbosity=0)
