"""Shared helpers for the scheduled-job tests: three stores (moto S3, Azurite, fake-gcs-server) in one
configuration, budgets that end after a fixed number of keys, and a recording alert hook."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from core.config import Config, parse_config
from core.runtime import Circle
from scripts.emulators import Emulators
from tests.rigs.azure import connection_string


def bucket_name(tag: str = "job") -> str:
    return f"{tag}-{uuid.uuid4().hex[:16]}"


def store_table(emulators: Emulators, bucket: str, via: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``stores`` entries s3/az/gs on one bucket name each (optionally through proxies, by scheme)."""
    via = via or {}
    opts = emulators.store_options()
    s3 = dict(opts["s3"], endpoint_url=via.get("s3", emulators.s3_endpoint))
    az = {"connection_string": connection_string(via.get("az", emulators.azure_endpoint))}
    gs = dict(opts["gs"], endpoint_url=via.get("gs", emulators.gcs_endpoint))
    return {
        "s3": {"url": f"s3://{bucket}", **s3},
        "az": {"url": f"az://{bucket}", **az},
        "gs": {"url": f"gs://{bucket}", **gs},
    }


def three_store_config(
    emulators: Emulators,
    bucket: str,
    *,
    source: str = "s3",
    propagate_deletes: bool = True,
    via: Mapping[str, str] | None = None,
    **rule: Any,
) -> Config:
    targets = [n for n in ("s3", "az", "gs") if n != source]
    return parse_config(
        {
            "stores": store_table(emulators, bucket, via),
            "replication": [
                {"name": "main", "source": source, "targets": targets, "propagate_deletes": propagate_deletes, **rule}
            ],
        }
    )


def circle_for(config: Config) -> Circle:
    return Circle.from_config(config)


class KeyBudget:
    """A deadline that allows ``keys`` more keys per invocation (then reports no time left): a tiny,
    deterministic time budget (``reconcile`` asks once per key)."""

    def __init__(self, keys: int) -> None:
        self.keys = keys
        self.asked = 0

    def __call__(self) -> float:
        self.asked += 1
        return 1000.0 if self.asked <= self.keys else 0.0


class RecordingAlerts:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, kind: str, key: str, message: str, **fields: Any) -> None:
        self.calls.append((kind, key, message))


def contents(store: Any, prefix: str = "") -> dict[str, bytes]:
    """Every user key's bytes (reserved keys excluded)."""
    out = {}
    for info in store.list(prefix):
        if not info.key.startswith(".circle/"):
            with store.get(info.key) as reader:
                out[info.key] = reader.read()
    return out
