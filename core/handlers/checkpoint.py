"""Checkpoints of long-running jobs, kept as small JSON objects under the reserved prefix.

A reconciliation pass over millions of keys outlives one function invocation: each invocation records
the last key below which everything is done (``after``) plus the pass's running counts, and the next
invocation continues from there. Keys under ``RESERVED_PREFIX`` belong to Circle (checkpoints, probe
canaries) and are never replicated, listed for reconciliation or compared by sync.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.storage.errors import NotFound

if TYPE_CHECKING:
    from core.storage import ObjectStore

RESERVED_PREFIX = ".circle/"
CHECKPOINT_PREFIX = RESERVED_PREFIX + "checkpoints/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def is_reserved(key: str) -> bool:
    """Whether ``key`` (relative to a store) is Circle's own bookkeeping, never user data."""
    return key.startswith(RESERVED_PREFIX)


def slug(text: str) -> str:
    """A key segment for a rule or range name (``a->b,c`` -> ``a-_b_c``), stable and readable."""
    cleaned = _UNSAFE.sub("_", text.replace(">", "_")).strip("._") or "_"
    return cleaned[:120]


@dataclass
class Checkpoint:
    """Where one pass over one (rule, key range) stands. ``after`` None: nothing done yet."""

    rule: str
    range: str
    after: str | None = None
    complete: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    updated: float = 0.0
    invocations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "range": self.range,
            "after": self.after,
            "complete": self.complete,
            "counts": dict(self.counts),
            "started": self.started,
            "updated": self.updated,
            "invocations": self.invocations,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            rule=str(data["rule"]),
            range=str(data["range"]),
            after=data.get("after"),
            complete=bool(data.get("complete", False)),
            counts={str(k): int(v) for k, v in dict(data.get("counts", {})).items()},
            started=float(data.get("started", time.time())),
            updated=float(data.get("updated", 0.0)),
            invocations=int(data.get("invocations", 0)),
        )


class CheckpointStore:
    """Reads and writes checkpoints in one store, at ``.circle/checkpoints/<rule>/<range>.json``."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @staticmethod
    def key(rule: str, range_name: str) -> str:
        return f"{CHECKPOINT_PREFIX}{slug(rule)}/{slug(range_name)}.json"

    def load(self, rule: str, range_name: str) -> Checkpoint | None:
        """The stored checkpoint, or None (none yet, or unreadable: a pass then starts over)."""
        try:
            with self.store.get(self.key(rule, range_name)) as reader:
                data = json.loads(reader.read())
            return Checkpoint.from_dict(data)
        except NotFound:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def save(self, checkpoint: Checkpoint) -> None:
        checkpoint.updated = time.time()
        body = json.dumps(checkpoint.as_dict(), sort_keys=True).encode()
        self.store.put(self.key(checkpoint.rule, checkpoint.range), body, content_type="application/json")

    def clear(self, rule: str, range_name: str) -> None:
        self.store.delete(self.key(rule, range_name))
