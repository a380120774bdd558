"""Reading circle.toml: the one TOML reader shared by the configuration and the rotation specs, kept
apart from ``core.config`` so ``core.secrets`` can read its ``[[rotation]]`` table without importing
the storage layer (no import cycle)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field."""


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at ``path``; a missing or malformed file is a ``ConfigError``."""
    import tomllib  # only when a file is read: adapters import this module on every cold start

    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
