"""Exceptions that the CLI maps to exit codes: configuration (2) and sync failures (1)."""

from __future__ import annotations


class LabsyncError(Exception):
    """Base class for errors labsync reports to the user without a traceback."""


class ConfigurationError(LabsyncError):
    """Bad or missing configuration; detected before any request is made (exit code 2)."""


class ApiError(LabsyncError):
    """A vendor API answered with an error that retrying cannot fix."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class SchemaDriftError(LabsyncError):
    """An existing field arrived with a different type than the one pinned for it."""

    def __init__(self, table: str, field: str, expected: str, got: object, row_id: object) -> None:
        super().__init__(
            f"type change in table '{table}', field '{field}': expected {expected}, "
            f"got {type(got).__name__} {got!r:.80} (row id {row_id})"
        )
        self.table = table
        self.field = field
