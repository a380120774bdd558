"""A three-cloud replication setup on the emulators: one source, the two other clouds as targets, and the
TOML configuration naming them (written to a temp file and loaded through CIRCLE_CONFIG)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from core.handlers.storage_events import reset_default_handler
from core.storage import ObjectStore, open_store
from scripts.emulators import Emulators


@dataclass
class ThreeClouds:
    bucket: str
    config_path: Path
    s3: ObjectStore
    az: ObjectStore
    gs: ObjectStore
    emulators: Emulators

    def boto(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.emulators.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    source_name: str = "s3"

    @property
    def source(self) -> ObjectStore:
        return self.stores()[self.source_name]

    def stores(self) -> dict[str, ObjectStore]:
        return {"s3": self.s3, "az": self.az, "gs": self.gs}

    def targets(self) -> dict[str, ObjectStore]:
        return {n: s for n, s in self.stores().items() if n != self.source_name}


def toml_value(value: Any) -> str:
    return json.dumps(value)  # JSON strings and booleans are valid TOML


def build(
    emu: Emulators, tmp_path: Path, monkeypatch: Any, *, source: str = "s3", target_prefix: str = "replica/"
) -> ThreeClouds:
    """Buckets named alike on the three emulators; the rule replicates ``source``'s ``data/`` prefix
    into the other two under ``target_prefix``, propagating deletes."""
    name = f"e2e-{uuid.uuid4().hex[:12]}"
    emu.create_buckets(name)
    options = emu.store_options()
    lines = []
    for store, url, opts in (
        ("s3", f"s3://{name}", options["s3"]),
        ("az", f"az://{name}", options["az"]),
        ("gs", f"gs://{name}", options["gs"]),
    ):
        lines.append(f"[stores.{store}]\nurl = {toml_value(url)}")
        lines += [f"{k} = {toml_value(v)}" for k, v in opts.items()]
    targets = [n for n in ("s3", "az", "gs") if n != source]
    lines.append(
        f'[[replication]]\nsource = "{source}"\nprefix = "data/"\ntargets = {toml_value(targets)}\n'
        f"target_prefix = {toml_value(target_prefix)}\npropagate_deletes = true"
    )
    path = tmp_path / "circle.toml"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("CIRCLE_CONFIG", str(path))
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    reset_default_handler()
    return ThreeClouds(
        name,
        path,
        open_store(f"s3://{name}", **options["s3"]),
        open_store(f"az://{name}", **options["az"]),
        open_store(f"gs://{name}", **options["gs"]),
        emu,
        source,
    )
