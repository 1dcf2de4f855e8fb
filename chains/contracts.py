"""The platform's own contracts: Vyper sources in ``contracts/``, compiled by the pinned compiler into
``contracts/build/<Name>.json`` (ABI, bytecode, compiler version, source SHA-256).

The set-up (``make install``) runs ``python -m chains.contracts`` to build them all. :func:`contract_artifact`
reads a build and rebuilds it when it is missing or its recorded source hash is not the source's (an edited contract),
so a build can never be stale. The compiler is the ``vyper`` package pinned in the lock file, and each source pins the
same version with ``# pragma version``: the same source always gives the same bytecode.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
VYPER_VERSION = "0.4.3"


class ContractBuildError(RuntimeError):
    """A contract that is not in ``contracts/``, does not compile, or a compiler that is not the pinned one."""


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes  # creation code, constructor arguments not included
    compiler: str
    source_sha256: str


def contract_names() -> list[str]:
    return sorted(path.stem for path in CONTRACTS_DIR.glob("*.vy"))


def contract_artifact(name: str) -> ContractArtifact:
    """The compiled contract ``contracts/<name>.vy`` (built first if its build is missing or stale)."""
    source_path = CONTRACTS_DIR / f"{name}.vy"
    if not source_path.is_file():
        raise ContractBuildError(f"no contract {name!r} in {CONTRACTS_DIR} (there are: {', '.join(contract_names())})")
    source = source_path.read_text()
    digest = hashlib.sha256(source.encode()).hexdigest()
    build_path = BUILD_DIR / f"{name}.json"
    if build_path.is_file():
        build = json.loads(build_path.read_text())
        if build.get("source_sha256") == digest and build.get("compiler") == f"vyper {VYPER_VERSION}":
            return _artifact(name, build)
    return _artifact(name, _compile(name, source_path, source, digest, build_path))


def contracts_build() -> list[ContractArtifact]:
    return [contract_artifact(name) for name in contract_names()]


def _artifact(name: str, build: dict[str, Any]) -> ContractArtifact:
    return ContractArtifact(
        name=name,
        abi=build["abi"],
        bytecode=bytes.fromhex(build["bytecode"].removeprefix("0x")),
        compiler=build["compiler"],
        source_sha256=build["source_sha256"],
    )


def _compile(name: str, source_path: Path, source: str, digest: str, build_path: Path) -> dict[str, Any]:
    try:
        import vyper
    except ImportError as error:  # pragma: no cover - vyper is a locked dependency
        raise ContractBuildError(f"the Vyper compiler is not installed (need vyper {VYPER_VERSION})") from error
    if vyper.__version__ != VYPER_VERSION:
        raise ContractBuildError(f"vyper {vyper.__version__} is installed; the contracts need {VYPER_VERSION}")
    try:
        output = vyper.compile_code(
            source, contract_path=source_path.relative_to(CONTRACTS_DIR.parent), output_formats=["abi", "bytecode"]
        )
    except Exception as error:  # vyper raises many exception types; all mean "does not compile"
        raise ContractBuildError(f"{source_path.name} does not compile: {error}") from error
    build = {
        "name": name,
        "compiler": f"vyper {VYPER_VERSION}",
        "source_sha256": digest,
        "abi": output["abi"],
        "bytecode": output["bytecode"],
    }
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # Written whole or not at all: a concurrent reader (parallel tests) never sees half a file.
    with tempfile.NamedTemporaryFile("w", dir=BUILD_DIR, suffix=".tmp", delete=False) as handle:
        json.dump(build, handle, indent=1)
    os.replace(handle.name, build_path)
    return build


if __name__ == "__main__":  # python -m chains.contracts: build every contract (make install)
    for artifact in contracts_build():
        print(f"contracts/{artifact.name}.vy: {len(artifact.bytecode)} bytes ({artifact.compiler})", file=sys.stderr)
