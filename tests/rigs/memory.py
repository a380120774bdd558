from __future__ import annotations

from typing import Any

from core.storage import ObjectStore, open_store
from tests.rigs import RigContext

NAME = "memory"
NEEDS_EMULATORS = False


def make(ctx: RigContext, **options: Any) -> ObjectStore:
    return open_store(f"memory://{ctx.unique()}", **options)
