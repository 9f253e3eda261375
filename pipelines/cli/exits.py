"""Exit codes, and the one line an operator sees for an error that ends a command."""

from __future__ import annotations

from .. import runner
from ..common.config import describe_provider_error
from ..common.errors import ConfigurationError, LabsyncError
from ..warehouse import WarehouseBusy

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 75, 130


def failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line an operator sees for an error that ends a command."""
    from dlt.common.configuration.exceptions import ConfigProviderException

    from ..search import InvalidFilter

    if isinstance(exc, ConfigurationError):
        return EXIT_USAGE, f"configuration error: {exc}"
    if isinstance(exc, ConfigProviderException):
        return EXIT_USAGE, f"configuration error: {describe_provider_error(exc)}"
    if isinstance(exc, InvalidFilter):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, runner.SyncFailed):  # each source's error is already logged above
        return EXIT_FAILED, f"sync failed: {', '.join(s.name for s in exc.result.failed)}"
    if isinstance(exc, WarehouseBusy):
        return EXIT_BUSY, str(exc)
    if isinstance(exc, LabsyncError):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, OSError):  # names the path: "[Errno 28] No space left on device: '...'"
        return EXIT_FAILED, f"{type(exc).__name__}: {exc}"
    return EXIT_FAILED, f"unexpected error: {type(exc).__name__}: {exc}"
