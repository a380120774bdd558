"""The command line's own error: one line for the user and the exit code (1 failure, 2 usage/config)."""

from __future__ import annotations

FAILURE = 1
USAGE = 2


class CliError(Exception):
    """A user-facing failure: printed as one line, never with a traceback."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def usage(message: str) -> CliError:
    """A usage or configuration mistake (exit code 2)."""
    return CliError(message, USAGE)
