"""Rotation errors: part of the secrets error tree, so callers catch one family."""

from __future__ import annotations

from ..errors import SecretsConflict, SecretsError


class RotationError(SecretsError):
    """A rotation step could not run (bad state, a rotator failure)."""


class RotationRefused(RotationError, PermissionError):
    """The trigger is not allowed to rotate this secret now (rotation disabled, token not pending)."""


class RotationConflict(SecretsConflict, RotationError):
    """The secret is in a state the requested step does not expect (another rotation in progress)."""


class RotationTestFailed(RotationError):
    """The new credential did not work; the current one is untouched and the pending one was cleaned."""
