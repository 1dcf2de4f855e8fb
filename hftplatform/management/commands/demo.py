"""``manage.py demo``: the whole platform on one machine — web (HTTP + websockets), Celery worker and beat.

Ctrl-C (or SIGTERM) stops every process it started; the embedded servers stop when their last user leaves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import BaseCommand, CommandError, call_command

from hftplatform import demo, embedded

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Migrate, create the demo users, and serve the platform with a Celery worker and beat."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="serve the web process only")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("the demo is for development; run the Procfile's processes in production")
        _check_port_free(host, port)
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)
        credentials = demo.demo_credentials_load(path=embedded.default_data_dir() / "demo-credentials.json")
        demo.demo_users_ensure(credentials=credentials)

        python = sys.executable
        bin_dir = Path(python).parent
        commands = {
            "web": [str(bin_dir / "daphne"), "-b", host, "-p", str(port), "hftplatform.asgi:application"],
        }
        if not no_worker:
            commands["worker"] = [
                python,
                "-m",
                "celery",
                "-A",
                "hftplatform",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ]
            commands["beat"] = [python, "-m", "celery", "-A", "hftplatform", "beat", "--loglevel", "INFO"]

        processes: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                processes[name] = subprocess.Popen(command)  # noqa: S603 - our own programs, no shell
            url = f"http://{host}:{port}/"
            self.stdout.write(
                self.style.SUCCESS("\nHFT Bot demo is starting at ")
                + url
                + f"\n  operator (admin):  {credentials.operator_email}  /  {credentials.operator_password}"
                + f"\n  depositor:         {credentials.depositor_email}  /  {credentials.depositor_password}"
                + f"\n  admin: {url}admin/   API docs: {url}api/docs/   dashboard: {url}dashboard/"
                + "\n  Ctrl-C stops everything.\n"
            )
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the demo")
                        stopping = True
                time.sleep(0.2)
        finally:
            _stop_all(processes)
            self.stdout.write("Demo stopped.")


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise CommandError(f"{host}:{port} is taken ({error.strerror}); pass --port or set PORT") from error


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
