"""The data directory is made 0700, secrets are written 0600 from the first byte and never through a symlink, and
a directory to be trusted is checked for its owner and mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftplatform.core.private_files import (
    PrivatePathError,
    private_dir_check,
    private_dir_create,
    secret_file_write,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask a user might run with: whatever we create must not rely on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_data_directory_is_created_0700_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    data = private_dir_create(tmp_path / "clone" / ".data")
    assert mode(data) == 0o700
    # an existing directory is left as the operator set it
    data.chmod(0o750)
    private_dir_create(data)
    assert mode(data) == 0o750


def test_a_secret_is_0600_from_creation_and_an_existing_file_is_closed_before_it_is_rewritten(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "data" / "keys.json"
    secret_file_write(path, '{"key": "0xabc"}')
    assert (mode(path), mode(path.parent), path.read_text()) == (0o600, 0o700, '{"key": "0xabc"}')

    loose = tmp_path / "data" / "old.json"
    loose.write_text("a much longer earlier content")
    loose.chmod(0o644)
    secret_file_write(loose, "short")
    assert (mode(loose), loose.read_text()) == (0o600, "short")


def test_a_secret_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    link = tmp_path / "secret.json"
    link.symlink_to(target)
    with pytest.raises(OSError):
        secret_file_write(link, "the key")
    assert target.read_text() == "untouched"


def test_a_directory_is_trusted_only_if_ours_closed_to_others_and_not_a_symlink(tmp_path: Path) -> None:
    me = os.geteuid()
    good = tmp_path / "run"
    good.mkdir(mode=0o700)
    private_dir_check(good, owners={me})

    good.chmod(0o770)
    with pytest.raises(PrivatePathError, match=r"has mode 0770, which lets other users in; run `chmod 700 "):
        private_dir_check(good, owners={me})
    good.chmod(0o700)

    link = tmp_path / "link"
    link.symlink_to(good)
    with pytest.raises(PrivatePathError, match="is not a directory"):
        private_dir_check(link, owners={me})

    if me == 0:  # only root can give a directory away
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 54321, 54321)
        with pytest.raises(PrivatePathError, match="belongs to uid 54321, not to this user"):
            private_dir_check(theirs, owners={me})
