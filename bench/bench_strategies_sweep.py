"""A 64-point ``leadlag`` sweep fanned out over real Celery workers: two workers against one (target >= 1.8x).

Generated candles (180 days of 1m on two venues, the follower a bar behind the leader) are COPYed into a scratch
database (``test_<name>``, dropped after). Two worker processes (solo pool) start on queues of their own: the first
listens on queues A and B, the second on B only, so a sweep sent to A has one worker and a sweep sent to B has two.
Timed: from queuing ``strategy_sweep_run`` to the study's ``done`` (4 chunks of 16 points; each chunk reads its
bars from PostgreSQL, computes and records). The two configurations run by turns, three times each; the fastest
run of each counts. The baseline is the one-worker run, in the same run of the benchmark.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bench.database import django_setup, klines_analyze, klines_copy, scratch_database, spot_instrument_create

DAYS = 180
MINUTES = DAYS * 1440
START_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
MINUTE = 60_000
TARGET_SPEEDUP = 1.8
ROUNDS = 3
GRID = {
    "lookback": ["1", "2", "5", "10"],
    "threshold": ["0.001", "0.002", "0.003", "0.005"],
    "hold_bars": ["5", "30"],
    "stop": ["0.002", "0.01"],
}
BASE_DIR = Path(__file__).resolve().parent.parent


def _copy_candles() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    path = 20_000.0 * np.exp(np.cumsum(rng.normal(0, 8e-4, MINUTES + 2)))
    closes = {"binance": path[1:-1], "bybit": path[:-2] * np.exp(rng.normal(0, 1e-4, MINUTES))}
    times = START_MS + MINUTE * np.arange(MINUTES, dtype=np.int64)
    instruments = {}
    for venue, close in closes.items():
        instrument = spot_instrument_create(venue)
        instruments[venue] = instrument
        text = np.char.mod("%.2f", close)
        opened = np.concatenate(([text[0]], text[:-1]))
        lines = "".join(
            f"{instrument.pk}\t1m\t{t}\t{o}\t{max(o, c, key=float)}\t{min(o, c, key=float)}\t{c}\t1.0\tt\n"
            for t, o, c in zip(times.tolist(), opened.tolist(), text.tolist(), strict=True)
        )
        klines_copy(lines)
    klines_analyze()
    return instruments


def _child_env() -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hftplatform.settings",
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    return env


def _worker_start(queues: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    node = f"bench-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    command = [
        sys.executable, "-m", "celery", "-A", "hftplatform", "worker", "--pool", "solo",
        "--queues", ",".join(queues), "--hostname", node,
        "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            command, cwd=BASE_DIR, env=_child_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, node


def _wait_ready(process: subprocess.Popen[bytes], node: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while f"{node} ready.".encode() not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker {node} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def _worker_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def _sweep_timed(queue: str) -> float:
    from strategies import tasks
    from strategies.services import sweeps

    sweep = sweeps.strategy_sweep_create(
        strategy="leadlag",
        exchanges=["binance", "bybit"],
        symbol="BTC/USDT",
        interval="1m",
        start_ms=START_MS,
        end_ms=START_MS + MINUTES * MINUTE,
        parameters={"leader": "binance", "follower": "bybit"},
        grid=GRID,
        cash=Decimal(10_000),
        cost_model={"fee_model": "venue", "slippage_bps": "1", "latency_ms": MINUTE},
        chunk_size=16,
    )
    started = time.perf_counter()
    tasks.strategy_sweep_run.apply_async((sweep.pk, queue), queue=queue)
    while True:
        sweep.refresh_from_db(fields=["status", "error", "progress_done"])
        if sweep.status in ("done", "failed"):
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if sweep.status != "done":
        raise RuntimeError(f"sweep failed: {sweep.error}")
    assert sweep.progress_done == 64
    return seconds


def main() -> None:
    django_setup()
    from hftplatform.celery import app as celery_app

    with scratch_database(), tempfile.TemporaryDirectory() as scratch:
        _copy_candles()
        tag = uuid.uuid4().hex[:8]
        alone, shared = f"bench-sweep-a-{tag}", f"bench-sweep-b-{tag}"
        logs = [Path(scratch) / "worker1.log", Path(scratch) / "worker2.log"]
        workers = [_worker_start([alone, shared], logs[0]), _worker_start([shared], logs[1])]
        try:
            for (process, node), log in zip(workers, logs, strict=True):
                _wait_ready(process, node, log)
            ones: list[float] = []
            twos: list[float] = []
            for _ in range(ROUNDS):  # interleaved, so a change in the machine's load hits both alike
                ones.append(_sweep_timed(alone))
                twos.append(_sweep_timed(shared))
            one, two = min(ones), min(twos)
        finally:
            for process, _ in workers:
                _worker_stop(process)
            with celery_app.connection_for_write() as broker:
                for name in (alone, shared):
                    broker.default_channel.queue_delete(name)
        speedup = one / two
        print(
            f"64-point leadlag sweep, {DAYS} days of 1m on 2 venues, 4 chunks: 1 worker {one:.2f} s (baseline, "
            f"ratio 1.00; runs {', '.join(f'{t:.2f}' for t in ones)}); 2 workers {two:.2f} s, ratio {speedup:.2f} "
            f"(runs {', '.join(f'{t:.2f}' for t in twos)}; target >= {TARGET_SPEEDUP}): "
            f"{'PASS' if speedup >= TARGET_SPEEDUP else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
