"""``circle sync --processes N``: copies and deletes on forked worker processes (core.handlers.sync_workers),
run as a user runs it (the console script in its own process) between moto and fake-gcs-server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from core.handlers.sync import check_stores
from core.storage import open_store
from tests.cli.conftest import circle, run_script, write_config


@pytest.fixture
def pair(emulator_env: dict[str, str], emulators: Any, tmp_path: Path) -> dict[str, Any]:
    bucket = f"procs-{uuid.uuid4().hex[:12]}"
    emulators.create_bucket("s3", bucket)
    emulators.create_bucket("gs", bucket)
    config = write_config(
        tmp_path / "circle.toml",
        f'[stores.src]\nurl = "s3://{bucket}/data"\n[stores.dst]\nurl = "gs://{bucket}/mirror"\n',
    )
    src, dst = open_store(f"s3://{bucket}/data"), open_store(f"gs://{bucket}/mirror")
    for i in range(60):
        src.put(f"k/{i:03}.txt", f"object {i}".encode())
    return {"env": emulator_env, "config": str(config), "src": src, "dst": dst, "tmp": tmp_path}


def sync(pair: dict[str, Any], *args: str) -> dict[str, Any]:
    args = ("--config", pair["config"], "--json", "sync", "src:", "dst:", *args)
    run = run_script(pair["tmp"], args, env=pair["env"], timeout=120)
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def test_workers_copy_then_skip_then_copy_and_delete_among_unchanged_keys(pair: dict[str, Any]) -> None:
    first = sync(pair, "--processes", "2", "--parallel", "3")  # batches of 12 keys: five batches
    assert (first["scanned"], first["copied"], first["failed"], first["bytes"]) == (60, 60, 0, 530)
    assert list(check_stores(pair["src"], pair["dst"])) == []

    pair["src"].put("k/003.txt", b"changed")
    pair["src"].put("k/041.txt", b"changed too")
    pair["dst"].put("k/020x.txt", b"only in dst")
    pair["dst"].delete("k/059.txt")
    again = sync(pair, "--processes", "2", "--parallel", "3", "--delete")
    # the copies and the delete sit among 57 unchanged keys: each batch finishes with the keys it spans
    assert (again["scanned"], again["copied"], again["deleted"], again["skipped"]) == (61, 3, 1, 57)
    assert pair["dst"].get("k/041.txt").read() == b"changed too"
    assert not pair["dst"].exists("k/020x.txt")
    assert list(check_stores(pair["src"], pair["dst"])) == []


def test_memory_stores_are_refused_before_anything_is_copied(tmp_path: Path) -> None:
    run = circle("sync", "memory://a/", "memory://b/", "--processes", "2")
    assert run.code == 2
    assert "--processes" in run.stderr and "lives in this process" in run.stderr
