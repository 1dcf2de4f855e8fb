"""mypy --strict covers every services, selectors and pure core module: the ``files`` of ``[tool.mypy]`` in
pyproject.toml, expanded as mypy expands them, include each one (a new module is covered when it is added)."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
APPS = ("hftplatform", "chains", "accounts", "marketdata", "orderbook", "strategies", "vaults", "fees")


def typed_files() -> set[str]:
    config = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    files: set[str] = set()
    for pattern in config["tool"]["mypy"]["files"]:
        matched = glob.glob(pattern, root_dir=REPOSITORY, recursive=True)
        assert matched, f"[tool.mypy] files: {pattern!r} matches nothing (mypy would refuse to start)"
        files.update(matched)
    return files


def rooms_that_must_be_typed() -> set[str]:
    found = set()
    for app in APPS:
        for path in (REPOSITORY / app).rglob("*.py"):
            parts = path.relative_to(REPOSITORY).parts
            if "migrations" in parts:
                continue
            if path.stem in {"services", "selectors"} or {"services", "selectors", "core"} & set(parts[:-1]):
                found.add(str(path.relative_to(REPOSITORY)))
    return found


def test_every_services_selectors_and_core_module_is_type_checked() -> None:
    required = rooms_that_must_be_typed()
    # the rule reads the tree: these are among what it must find
    assert {"vaults/services/deposits.py", "vaults/selectors.py", "fees/core/vault.py"} <= required
    missing = sorted(required - typed_files())
    assert missing == [], f"add these to [tool.mypy] files in pyproject.toml: {missing}"
