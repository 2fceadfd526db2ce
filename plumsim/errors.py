"""Errors a user can cause (bad file, bad field, bad value).

The CLI turns any :class:`PlumsimError` into one line on stderr and exit code 2, no traceback.
Messages name the file (when there is one), the field and what was expected.
"""

from __future__ import annotations

from pathlib import Path


class PlumsimError(Exception):
    """Base of all user-facing errors."""

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
