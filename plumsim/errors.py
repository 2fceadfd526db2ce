"""Errors a user can cause (bad file, bad field, bad value), and errors the machine causes (I/O).

The CLI turns any :class:`PlumsimError` into one line on stderr and its ``exit_code``, no traceback:
:data:`EXIT_USER` (2) for bad input, :data:`EXIT_STORAGE` (3) for a :class:`StorageError` (the disk is
full or read-only, permission denied, a folder where a file belongs). Messages name the file (when there
is one), the field and what was expected, or the path and the operating system's reason.
"""

from __future__ import annotations

import errno as _errno
from pathlib import Path

#: exit status of a user error (bad file, field or value)
EXIT_USER = 2
#: exit status of an I/O failure (ENOSPC, EROFS, EACCES, ENOTDIR, EISDIR ...): :class:`StorageError`
EXIT_STORAGE = 3


class PlumsimError(Exception):
    """Base of all user-facing errors."""

    exit_code = EXIT_USER

    def __init__(self, message: str, *, path: str | Path | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.field = field
        self.detail = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if field is not None:
            where.append(f"field '{field}'")
        prefix = (": ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ConfigError(PlumsimError):
    """An accelerator .cfg, tile or sweep grid is invalid."""


class WorkloadError(PlumsimError):
    """A workload folder, layer table or checkpoint is invalid."""


class DataError(PlumsimError):
    """A data set path is missing or malformed."""


class EnergyTableError(PlumsimError):
    """An energy table is missing an action, has a negative value or an unknown unit."""


class StorageError(PlumsimError):
    """The operating system refused a write (or read) of ``path``: disk full, read-only file system,
    permission denied, a missing or non-folder parent, a folder where a file belongs.

    ``cause`` is the :class:`OSError`, ``errno`` its number. The message reads
    ``PATH: cannot write: No space left on device (errno 28, ENOSPC)``.
    """

    exit_code = EXIT_STORAGE

    def __init__(self, path: str | Path | None, cause: OSError, action: str = "write"):
        self.cause = cause
        self.errno = cause.errno
        self.action = action
        reason = cause.strerror or str(cause) or type(cause).__name__
        if cause.errno:
            reason += f" (errno {cause.errno}, {_errno.errorcode.get(cause.errno, '?')})"
        if path is None:
            path = cause.filename
        super().__init__(f"cannot {action}: {reason}", path=path)

    @classmethod
    def wrap(cls, exc: OSError, path: str | Path | None = None, action: str = "write") -> "StorageError":
        """``exc`` as a StorageError naming ``path`` (default: the file the OSError names)."""
        return cls(path, exc, action)
