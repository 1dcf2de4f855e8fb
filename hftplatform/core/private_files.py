"""Files only this user may read: the data directory (``.data/``: database, keys, passwords) made ``0700`` when
created, secrets written ``0600`` from the first byte, and a check that a directory we are about to trust (the
embedded servers' socket directory, possibly under a shared ``/tmp``) is really ours and closed to others.

No Django: the settings import this (through :mod:`hftplatform.embedded`) before Django is set up.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
SECRET_FILE_MODE = 0o600


class PrivatePathError(RuntimeError):
    """A path that must be private is not: another owner, a symlink, or a mode that lets others in."""


def private_dir_create(path: Path) -> Path:
    """Create ``path`` (and missing parents) if absent, itself with mode ``0700``; an existing directory is left as
    it is (an operator may have opened it on purpose)."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            pass  # made by a concurrent process: fine, it made it the same way
        else:
            os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask; this one is exact
    return path


def private_dir_check(path: Path, *, owners: Collection[int]) -> None:
    """Raise :class:`PrivatePathError` unless ``path`` is a directory (not a symlink) owned by one of ``owners``
    (uids) with no permission for group or others."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PrivatePathError(f"{path} is not a directory (a symlink?); remove it and start again")
    if info.st_uid not in owners:
        raise PrivatePathError(
            f"{path} belongs to uid {info.st_uid}, not to this user ({', '.join(map(str, sorted(owners)))}); "
            "another user may have made it to intercept the connections: remove it and start again"
        )
    if info.st_mode & 0o077:
        raise PrivatePathError(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}, which lets other users in; "
            f"run `chmod 700 {path}` or remove it"
        )


def secret_file_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only: the file is created ``0600`` (an existing one is set to
    ``0600`` before it is truncated), never through a symlink; its directory is created ``0700`` if absent."""
    private_dir_create(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, SECRET_FILE_MODE)
    try:
        os.fchmod(fd, SECRET_FILE_MODE)
        os.ftruncate(fd, 0)
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
