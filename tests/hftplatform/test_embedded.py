"""The embedded PostgreSQL and Redis: start, reuse, concurrent start, last-user stop, recovery.

Each test uses its own data directory, so these servers are separate from the suite's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from hftplatform.embedded import DATABASE_NAME, DATABASE_USER, EmbeddedServiceError, EmbeddedServices

# A child process that takes a user lock, prints the server pids, and holds on until told to go.
USER_PROCESS = textwrap.dedent(
    """
    import sys
    from hftplatform.embedded import EmbeddedServices
    services = EmbeddedServices(sys.argv[1])
    started = services.ensure_running()
    print(started, services.postgres_pid(), services.redis_pid(), flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[EmbeddedServices]:
    embedded = EmbeddedServices(tmp_path / "data")
    yield embedded
    embedded.stop()


def spawn_user(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", USER_PROCESS, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(timeout=60) == 0


def test_first_start_creates_database_that_accepts_queries_and_redis_answers(services: EmbeddedServices) -> None:
    # Given an empty data directory, when the services start
    started = services.ensure_running(register_exit=False)

    # Then both servers run, over unix sockets only, and the platform's database exists
    assert started is True
    with psycopg.connect(
        host=str(services.socket_dir), port=5432, user=DATABASE_USER, dbname=DATABASE_NAME
    ) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == (DATABASE_NAME,)
        listen = connection.execute("SHOW listen_addresses").fetchone()
    assert listen == ("",)
    client = redis.Redis.from_url(services.redis_url())
    assert client.ping() is True
    assert client.config_get("port") == {"port": "0"}
    assert services.redis_socket.is_socket()


def test_second_call_reuses_running_servers_and_keeps_data(services: EmbeddedServices, tmp_path: Path) -> None:
    services.ensure_running(register_exit=False)
    pids = (services.postgres_pid(), services.redis_pid())
    with psycopg.connect(services.database_url().replace("postgres://", "postgresql://")) as connection:
        connection.execute("CREATE TABLE kept (value int)")
        connection.execute("INSERT INTO kept VALUES (7)")

    again = EmbeddedServices(tmp_path / "data")
    assert again.ensure_running(register_exit=False) is False
    assert (again.postgres_pid(), again.redis_pid()) == pids

    # A full stop and start keeps what PostgreSQL wrote.
    again.stop()
    assert not again.postgres_running()
    assert again.ensure_running(register_exit=False) is True
    with psycopg.connect(again.database_url().replace("postgres://", "postgresql://")) as connection:
        assert connection.execute("SELECT value FROM kept").fetchall() == [(7,)]


def test_concurrent_starts_make_one_server_of_each(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    users = [spawn_user(data_dir) for _ in range(3)]
    try:
        lines = [process.stdout.readline().split() for process in users if process.stdout]
        # Exactly one process started the servers; all three see the same two pids.
        assert sorted(line[0] for line in lines) == ["False", "False", "True"]
        assert len({(line[1], line[2]) for line in lines}) == 1
    finally:
        for process in users:
            finish(process)
    # The last user to leave stopped both servers.
    after = EmbeddedServices(data_dir)
    assert not after.postgres_running()
    assert not after.redis_running()


def test_servers_outlive_a_leaving_user_while_another_remains(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first, second = spawn_user(data_dir), spawn_user(data_dir)
    try:
        first.stdout.readline()  # type: ignore[union-attr]
        second.stdout.readline()  # type: ignore[union-attr]
        finish(first)
        observer = EmbeddedServices(data_dir)
        assert observer.postgres_running()
        assert observer.redis_running()
    finally:
        if first.poll() is None:
            finish(first)
        finish(second)
    assert not EmbeddedServices(data_dir).postgres_running()


def test_keep_flag_leaves_servers_running_after_last_user(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    services = EmbeddedServices(tmp_path / "data")
    services.ensure_running(register_exit=False)
    monkeypatch.setenv("HFT_EMBEDDED_KEEP", "1")
    try:
        assert services.release() is False
        assert services.postgres_running()
    finally:
        services.stop()
    assert not services.postgres_running()
    assert not services.redis_running()


def test_restart_after_servers_were_killed(services: EmbeddedServices) -> None:
    services.ensure_running(register_exit=False)
    postgres_pid, redis_pid = services.postgres_pid(), services.redis_pid()
    assert postgres_pid and redis_pid
    os.kill(postgres_pid, signal.SIGKILL)
    os.kill(redis_pid, signal.SIGKILL)
    _wait_dead(postgres_pid)
    _wait_dead(redis_pid)

    # The stale pid file and socket are recovered from; new servers answer.
    assert services.ensure_running(register_exit=False) is True
    assert services.postgres_pid() != postgres_pid
    assert redis.Redis.from_url(services.redis_url()).ping() is True


def test_long_data_paths_put_sockets_in_a_short_directory(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    services = EmbeddedServices(deep)
    assert not str(services.socket_dir).startswith(str(deep))
    assert len(str(services.redis_socket)) <= 100
    # Two different data directories never share a socket directory.
    assert services.socket_dir != EmbeddedServices(tmp_path / ("f" * 60) / ("e" * 60)).socket_dir


@pytest.mark.parametrize("planted", ["open mode", "another owner", "symlink"])
def test_a_socket_directory_planted_in_tmp_is_refused_and_nothing_starts(tmp_path: Path, planted: str) -> None:
    # Given a data directory whose sockets go to a predictable directory in /tmp, made first by someone else
    services = EmbeddedServices(tmp_path / ("d" * 60) / ("e" * 60))
    socket_dir = services.socket_dir
    assert str(socket_dir).startswith(tempfile.gettempdir())
    shutil.rmtree(socket_dir, ignore_errors=True)
    decoy = tmp_path / "decoy"
    decoy.mkdir(mode=0o700)
    try:
        if planted == "symlink":
            socket_dir.symlink_to(decoy)
        else:
            socket_dir.mkdir(mode=0o700)
            if planted == "open mode":
                socket_dir.chmod(0o777)
            elif os.geteuid() == 0:
                os.chown(socket_dir, 54321, 54321)
            else:
                pytest.skip("only root can plant a directory owned by another user")

        # When a process starts the embedded servers
        with pytest.raises(EmbeddedServiceError, match="refusing to use the embedded servers' directory") as refused:
            services.ensure_running(register_exit=False)

        # Then it says why, and neither server was started
        expected = {
            "open mode": "has mode 0777, which lets other users in",
            "another owner": "belongs to uid 54321",
            "symlink": "is not a directory",
        }[planted]
        assert expected in str(refused.value)
        assert not (services.pgdata / "PG_VERSION").exists()
        assert not services.redis_socket.exists() and services.redis_pid() is None
        assert list(decoy.iterdir()) == []
    finally:
        services.release()
        if socket_dir.is_symlink():
            socket_dir.unlink()
        else:
            shutil.rmtree(socket_dir, ignore_errors=True)


def test_the_data_directory_is_created_0700(services: EmbeddedServices) -> None:
    services.ensure_running(register_exit=False)
    assert stat.S_IMODE(services.data_dir.stat().st_mode) & 0o077 in (0, 0o001)  # o+x only when run as root
    assert stat.S_IMODE(services.socket_dir.stat().st_mode) == 0o700
    services.release()


def _wait_dead(pid: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A killed child of ours would linger as a zombie; these are daemons reparented to init.
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")
