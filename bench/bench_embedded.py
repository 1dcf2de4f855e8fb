"""Embedded services: first start (initdb), restart on existing data, and joining running servers.

Baseline: the first start in an empty data directory, measured in this same run. A second `make demo` is a
restart on existing data; a worker or beat process joining the demo's servers is a join.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from hftplatform.embedded import EmbeddedServices

ROUNDS = 3


def _start_seconds(services: EmbeddedServices) -> float:
    start = time.perf_counter()
    services.ensure_running(register_exit=False)
    return time.perf_counter() - start


def main() -> None:
    first, restart, join = [], [], []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="hftbench-") as folder:
            data = Path(folder) / "data"
            services = EmbeddedServices(data)
            first.append(_start_seconds(services))
            join.append(_start_seconds(EmbeddedServices(data)))
            services.stop()
            restart.append(_start_seconds(EmbeddedServices(data)))
            services.stop()
    baseline = statistics.median(first)
    print(f"first start (initdb)    median {baseline:7.3f} s   ratio 1.00 (baseline)")
    for label, samples in (("restart on data", restart), ("join running servers", join)):
        median = statistics.median(samples)
        print(f"{label:<23} median {median:7.3f} s   ratio {median / baseline:.3f}")
