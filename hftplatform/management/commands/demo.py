"""``manage.py demo``: the whole platform on one machine — web (HTTP + websockets), a Celery worker for each queue
(default and custody) and beat, and a local dev chain (:mod:`hftplatform.devchain`) with the demo vault's Safe,
a test stablecoin and two funded wallets.

Ctrl-C (or SIGTERM) stops every process it started; the embedded servers stop when their last user leaves.
"""

from __future__ import annotations

import json
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

from hftplatform import demo, demo_chain, embedded

STOP_GRACE_SECONDS = 15
DEVCHAIN_READY_SECONDS = 60
DEMO_DEPOSIT_CONFIRMATIONS = "2"


def web_command(bin_dir: Path, host: str, port: int, *, trusted_proxy_count: int) -> list[str]:
    """daphne serving the site; behind proxies of ours (TRUSTED_PROXY_COUNT > 0) it reads their X-Forwarded-* headers
    for the ASGI client address and scheme. The rate limits read X-Forwarded-For themselves, counting from the right."""
    proxy = ["--proxy-headers"] if trusted_proxy_count > 0 else []
    return [str(bin_dir / "daphne"), *proxy, "-b", host, "-p", str(port), "hftplatform.asgi:application"]


class Command(BaseCommand):
    help = "Migrate, create the demo users, and serve the platform with a Celery worker per queue and beat."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="serve the web process only")
        parser.add_argument("--no-chain", action="store_true", help="no local dev chain (and no demo vault Safe)")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, no_chain: bool, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("the demo is for development; run the Procfile's processes in production")
        _check_port_free(host, port)
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)
        data_dir = embedded.default_data_dir()
        credentials = demo.demo_credentials_load(path=data_dir / "demo-credentials.json")
        _, depositor = demo.demo_users_ensure(credentials=credentials)

        python = sys.executable
        commands = demo_commands(python=python, host=host, port=port, workers=not no_worker)

        processes: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False
        environment = dict(os.environ)
        chain_text = ""

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if not no_chain:
                deployed = self._chain_start(python, data_dir, depositor, processes, site_origins(host, port))
                urls = {**settings.CHAIN_RPC_URLS, deployed.chain_id: deployed.rpc_url}
                environment["CHAIN_RPC_URLS"] = ",".join(f"{chain}={rpc}" for chain, rpc in urls.items())
                environment.setdefault("DEPOSIT_CONFIRMATIONS", DEMO_DEPOSIT_CONFIRMATIONS)
                # The demo Safe's co-signer is the demo's own key; this run's deployer (it holds ether) relays.
                keys = demo_chain.demo_chain_keys_load(path=data_dir / "demo-chain-keys.json")
                environment["HFT_SAFE_COSIGNER_KEY"] = keys.cosigner
                environment["HFT_SAFE_RELAYER_KEY"] = deployed.deployer_key
                chain_text = _chain_text(deployed, data_dir)
            for name, command in commands.items():
                processes[name] = subprocess.Popen(command, env=environment)  # noqa: S603 - our own programs
            url = f"http://{host}:{port}/"
            self.stdout.write(
                self.style.SUCCESS("\nHFT Bot demo is starting at ")
                + url
                + f"\n  operator (admin):  {credentials.operator_email}  /  {credentials.operator_password}"
                + f"\n  depositor:         {credentials.depositor_email}  /  {credentials.depositor_password}"
                + f"\n  admin: {url}admin/   API docs: {url}api/docs/   dashboard: {url}dashboard/"
                + chain_text
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

    def _chain_start(
        self,
        python: str,
        data_dir: Path,
        depositor: Any,
        processes: dict[str, subprocess.Popen[bytes]],
        origins: list[str],
    ) -> demo_chain.DemoChain:
        """Start the dev chain (a process of the demo, stopped with the others) and deploy the demo's contracts."""
        from web3 import HTTPProvider, Web3

        state_file = data_dir / "devchain.json"
        # --block-time 2: an empty block every 2 s, so deposits collect confirmations as on a real chain.
        state_file.unlink(missing_ok=True)
        self.stdout.write("Starting the local dev chain and deploying the demo vault's Safe…")
        command = [python, "-m", "hftplatform.devchain", "--state-file", str(state_file), "--block-time", "2"]
        for origin in origins:  # pages of the demo site alone may call the node (its faucet account is unlocked)
            command += ["--allowed-origin", origin]
        processes["chain"] = subprocess.Popen(command)  # noqa: S603 - our own program
        deadline = time.monotonic() + DEVCHAIN_READY_SECONDS
        while not state_file.exists():
            if processes["chain"].poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"the dev chain did not start (exit code {processes['chain'].returncode})")
            time.sleep(0.1)
        rpc_url = json.loads(state_file.read_text())["url"]
        keys = demo_chain.demo_chain_keys_load(path=data_dir / "demo-chain-keys.json")
        deployed = demo_chain.demo_chain_setup(
            w3=Web3(HTTPProvider(rpc_url)), rpc_url=rpc_url, keys=keys, depositor=depositor
        )
        demo_chain.demo_chain_state_write(path=data_dir / "demo-chain.json", demo_chain=deployed)
        return deployed


def demo_commands(*, python: str, host: str, port: int, workers: bool = True) -> dict[str, list[str]]:
    """The demo's processes by name: the web server and, unless ``workers`` is off, one Celery worker per queue
    (the default queue and the custody queue, as the Procfile runs them) and beat."""
    commands = {"web": web_command(Path(python).parent, host, port, trusted_proxy_count=settings.TRUSTED_PROXY_COUNT)}
    if not workers:
        return commands
    celery = [python, "-m", "celery", "-A", "hftplatform"]
    for name, queue in (("worker", settings.CELERY_TASK_DEFAULT_QUEUE), ("custody", settings.CELERY_CUSTODY_QUEUE)):
        commands[name] = [
            *celery, "worker", "--queues", queue, "--hostname", f"{name}@%h",
            "--loglevel", "INFO", "--concurrency", "2",
        ]  # fmt: skip
    commands["beat"] = [*celery, "beat", "--loglevel", "INFO"]
    return commands


def site_origins(host: str, port: int) -> list[str]:
    """The origins the demo site is opened from, which alone may call the dev chain from a page."""
    hosts = ["127.0.0.1", "localhost"] if host in {"127.0.0.1", "localhost"} else [host]
    return [f"http://{name}:{port}" for name in hosts]


def _chain_text(deployed: demo_chain.DemoChain, data_dir: Path) -> str:
    keys = demo_chain.demo_chain_keys_load(path=data_dir / "demo-chain-keys.json")
    return (
        f"\n  dev chain: {deployed.rpc_url}  (chain ID {deployed.chain_id}; in memory: redeployed on every start)"
        + f"\n  test stablecoin tUSD (6 decimals): {deployed.token}"
        + f"\n  demo vault Safe: {deployed.safe}  (2 of 4: co-signer, two operators, recovery)"
        + f"\n  its guard (nothing executes without the co-signer): {deployed.guard}"
        + "\n  the depositor's two linked demo wallets (import these keys into a browser wallet on the dev chain):"
        + f"\n    {deployed.wallet_1}  key {keys.wallet_1}"
        + f"\n    {deployed.wallet_2}  key {keys.wallet_2}"
        + f"\n  keys and addresses: {data_dir / 'demo-chain-keys.json'}, {data_dir / 'demo-chain.json'}"
    )


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
