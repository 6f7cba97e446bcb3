"""The one user-facing error type.

Every mistake a user can make (bad path, missing column, unknown config key, corrupt image, bad value)
raises a `FieldtuneError`: the CLI prints its message on one line and exits with code 2.
"""

from __future__ import annotations


class FieldtuneError(Exception):
    """A user mistake, explained in one line: what is wrong, where, and what to do."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would look like a traceback to a user.
        super().__init__(" ".join(str(message).split()))


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
