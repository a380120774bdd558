"""Credential rotation: one state machine (``engine``), strategies, pluggable rotators, TOML config.

    from core.secrets.rotation import RotationEngine, rotator_for, DUAL
    engine = RotationEngine(secrets, "circle/api-key", rotator_for("hmac_api_key", {}), DUAL)
    engine.rotate()                      # create -> set -> test -> finish, every step idempotent

Native triggers (AWS four steps, Key Vault SecretNearExpiry, Secret Manager SECRET_ROTATE) are thin
adapters into the same engine: see ``core.handlers.rotation``. Importing this loads no cloud SDK.
"""

from __future__ import annotations

from .engine import (
    RotationConflict,
    RotationEngine,
    RotationError,
    RotationResult,
    RotationTestFailed,
    new_token,
    token_for,
)
from .rotators import ROTATORS, Rotator, RotatorContext, rotator_for
from .strategies import DUAL, SINGLE, STRATEGIES, Strategy, strategy_for

__all__ = [
    "DUAL",
    "ROTATORS",
    "SINGLE",
    "STRATEGIES",
    "RotationConflict",
    "RotationEngine",
    "RotationError",
    "RotationResult",
    "RotationTestFailed",
    "Rotator",
    "RotatorContext",
    "Strategy",
    "new_token",
    "rotator_for",
    "strategy_for",
    "token_for",
]
