"""One rig per store: how to open a fresh, empty store of that kind for a test.

A rig module defines ``NAME`` and ``make(ctx) -> ObjectStore``; ``RIGS`` lists them in the order
the conformance suite runs them. Every rig runs the same behaviour suite, gated by capabilities.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from core.storage import ObjectStore
from core.storage.registry import rig_names

# From the provider registry: one rig per provider, and "module:variant" runs a rig again with a
# variant (the S3-compatible provider profiles on moto).
RIG_MODULES = rig_names()
# The same suite again with ``engine = "obstore"`` ("rig+engine"), on the stores that offer it.
ENGINE_RIGS = ["s3+obstore", "azure+obstore"]


@dataclass
class RigContext:
    """What a rig may use: the per-session emulators (started on first use) and a temp folder."""

    emulators: Callable[[], Any]
    tmp_path: Path

    @staticmethod
    def unique(prefix: str = "t") -> str:
        """A fresh bucket/container name (lower-case, 3..63 chars, valid on every cloud)."""
        return f"{prefix}-{uuid.uuid4().hex[:20]}"


def load(name: str) -> ModuleType:
    return importlib.import_module(f"tests.rigs.{name.partition(':')[0].partition('+')[0]}")


def make(name: str, ctx: RigContext, **options: Any) -> ObjectStore:
    variant = name.partition(":")[2]
    if variant:
        options.setdefault("profile", variant)
    engine = name.partition(":")[0].partition("+")[2]
    if engine:
        options.setdefault("engine", engine)
    store: ObjectStore = load(name).make(ctx, **options)
    return store


def emulator_gaps(name: str) -> dict[str, str]:
    """Capabilities a rig's store claims (true on the real service) that its emulator does not enforce."""
    gaps: Callable[..., dict[str, str]] | None = getattr(load(name), "emulator_gaps", None)
    return gaps(name.partition(":")[2] or None) if gaps else {}
