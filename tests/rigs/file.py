"""Rig: a fresh ``file://`` store rooted in the test's temp folder."""

from __future__ import annotations

from typing import Any

from core.storage import ObjectStore, open_store
from tests.rigs import RigContext

NAME = "file"
NEEDS_EMULATORS = False


def make(ctx: RigContext, **options: Any) -> ObjectStore:
    return open_store(f"file://{ctx.tmp_path / ctx.unique('file')}", **options)
