"""``manage.py embedded status|stop``: look at or stop the embedded PostgreSQL and Redis."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from hftplatform.embedded import EmbeddedServices, default_data_dir


class Command(BaseCommand):
    help = "Show or stop the embedded PostgreSQL and Redis (used when DATABASE_URL / REDIS_URL are unset)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        services = settings.EMBEDDED_SERVICES
        if services is None:
            raise CommandError("DATABASE_URL and REDIS_URL are set: this process uses those servers, not embedded ones")
        assert isinstance(services, EmbeddedServices)
        if action == "stop":
            services.stop()
            self.stdout.write(f"Stopped the embedded servers under {default_data_dir()}")
            return
        self.stdout.write(f"data directory: {services.data_dir}")
        self.stdout.write(f"PostgreSQL: pid {services.postgres_pid()}, socket {services.postgres_socket}")
        self.stdout.write(f"Redis:      pid {services.redis_pid()}, socket {services.redis_socket}")
        self.stdout.write(f"DATABASE_URL={services.database_url()}")
        self.stdout.write(f"REDIS_URL={services.redis_url()}")
