"""The one user-facing error type.

Every mistake a user can make (bad path, missing column, unknown config key, corrupt image, bad value)
raises a `FieldtuneError`: the CLI prints its message on one line and exits with code 2.
"""

from __future__ import annotations

from fieldtune.redact import redact


class FieldtuneError(Exception):
    """A user mistake, explained in one line: what is wrong, where, and what to do."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would look like a traceback to a user. No password or
        # token either, whatever value the message quotes (a database URL, a tracking URI).
        super().__init__(" ".join(redact(message).split()))


class ConfigError(FieldtuneError, ValueError):
    """A config key or value is wrong."""


class DataError(FieldtuneError, ValueError):
    """The data cannot be read or does not fit the task."""


class ModelError(FieldtuneError, ValueError):
    """The model path, type or method does not fit."""


class RunDirError(FieldtuneError):
    """The run directory is missing, incomplete or would be overwritten."""


class HubError(FieldtuneError):
    """A Hub push or pull cannot be done as asked."""


class FileSystemError(FieldtuneError):
    """A file or folder cannot be read or written (missing, wrong kind, no permission, disk full)."""


_OS_FIXES = {  # errno name -> what it means to a user, and what to do
    "ENOSPC": "the disk is full; free some space and retry",
    "EDQUOT": "the disk quota is exhausted; free some space and retry",
    "EACCES": "permission denied; choose a location you can write to, or fix its permissions",
    "EPERM": "operation not permitted; choose a location you can write to, or fix its permissions",
    "EROFS": "the file system is read-only; choose a writable location",
    "ENOTDIR": "a part of that path is a file, not a folder; fix the path",
    "EISDIR": "it is a folder where a file is expected; give a file path",
    "EEXIST": "it already exists; choose a new path",
    "ELOOP": "it is a symlink loop (links pointing at each other); fix or remove the link",
    "ENAMETOOLONG": "the file name is too long; choose a shorter path",
    "ENOENT": "no such file or folder; check the path",
}


def file_system_error(e: OSError, path: object = None) -> FileSystemError:
    """An `OSError` from the file system -> one line naming the path (`path`, else the error's own),
    what went wrong and what to do."""
    import errno

    name = errno.errorcode.get(e.errno or -1, "")
    where = path if path is not None else e.filename if e.filename is not None else "a file"
    what = _OS_FIXES.get(name) or f"{e.strerror or type(e).__name__}; check the path and its permissions"
    return FileSystemError(f"Cannot use {where}: {what}.")
