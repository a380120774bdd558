"""``circle sync`` and ``circle check`` on the J1 engine, between emulated clouds and local folders."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from core.storage import open_store
from tests.cli.conftest import circle, write_config


@pytest.fixture
def pair(emulator_env: dict[str, str], emulators: Any, tmp_path: Path) -> dict[str, Any]:
    bucket = f"sync-{uuid.uuid4().hex[:12]}"
    emulators.create_bucket("s3", bucket)
    emulators.create_bucket("gs", bucket)
    config = write_config(
        tmp_path / "circle.toml",
        f'[stores.src]\nurl = "s3://{bucket}/data"\n[stores.dst]\nurl = "gs://{bucket}/mirror"\n',
    )
    src, dst = open_store(f"s3://{bucket}/data"), open_store(f"gs://{bucket}/mirror")
    for i in range(20):
        src.put(f"k/{i:03}.txt", f"object {i}".encode())
    return {"config": str(config), "src": src, "dst": dst, "bucket": bucket, "tmp": tmp_path}


def c(pair: dict[str, Any], *args: str, **kw: Any) -> Any:
    return circle("--config", pair["config"], *args, **kw)


def test_dry_run_plans_and_changes_nothing(pair: dict[str, Any]) -> None:
    run = c(pair, "--json", "sync", "src:", "dst:", "--dry-run")
    assert run.code == 0
    report = json.loads(run.stdout)
    assert (report["copied"], report["dry_run"], len(report["planned"])) == (20, True, 20)
    assert list(pair["dst"].list()) == []


def test_sync_copies_then_skips_then_deletes_extras_with_delete(pair: dict[str, Any]) -> None:
    first = c(pair, "sync", "src:", "dst:", "--parallel", "4")
    assert first.code == 0
    assert first.stdout.strip().startswith("20 scanned, copied 20")
    assert pair["dst"].get("k/007.txt").read() == b"object 7"
    again = json.loads(c(pair, "--json", "sync", "src:", "dst:").stdout)
    assert (again["copied"], again["skipped"]) == (0, 20)

    pair["dst"].put("k/extra.txt", b"only in dst")
    pair["src"].put("k/003.txt", b"changed")
    kept = json.loads(c(pair, "--json", "sync", "src:", "dst:").stdout)
    assert (kept["copied"], kept["deleted"]) == (1, 0) and pair["dst"].exists("k/extra.txt")
    removed = json.loads(c(pair, "--json", "sync", "src:", "dst:", "--delete").stdout)
    assert removed["deleted"] == 1 and not pair["dst"].exists("k/extra.txt")
    assert pair["dst"].get("k/003.txt").read() == b"changed"


def test_check_lists_differences_and_exits_1(pair: dict[str, Any]) -> None:
    assert c(pair, "sync", "src:k/", f"gs://{pair['bucket']}/mirror/k/").code == 0
    clean = c(pair, "check", "src:", "dst:")
    assert (clean.code, clean.stdout.strip()) == (0, "no differences")
    pair["dst"].put("k/zzz.txt", b"extra")
    pair["dst"].delete("k/000.txt")
    pair["src"].put("k/001.txt", b"different size")
    run = c(pair, "check", "src:", "dst:")
    assert run.code == 1
    assert run.stdout.split("\n")[:3] == ["missing  k/000.txt", "stale    k/001.txt", "extra    k/zzz.txt"]
    rows = json.loads(c(pair, "--json", "check", "src:", "dst:", "--compare", "size").stdout)
    assert [(r["key"], r["kind"]) for r in rows] == [
        ("k/000.txt", "missing"),
        ("k/001.txt", "stale"),
        ("k/zzz.txt", "extra"),
    ]


def test_sync_between_a_local_folder_and_a_store_with_checksums(pair: dict[str, Any]) -> None:
    folder = pair["tmp"] / "site"
    (folder / "css").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>hi</h1>")
    (folder / "css" / "a.css").write_text("h1{}")
    run = c(pair, "--json", "sync", str(folder), "dst:site/", "--compare", "checksum")
    assert run.code == 0 and json.loads(run.stdout)["copied"] == 2
    assert pair["dst"].get("site/css/a.css").read() == b"h1{}"
    back = pair["tmp"] / "back"
    assert c(pair, "sync", "dst:site/", str(back)).code == 0
    assert (back / "index.html").read_text() == "<h1>hi</h1>"


def test_sync_progress_bar_totals_the_bytes_to_copy(pair: dict[str, Any]) -> None:
    run = c(pair, "sync", "src:", "dst:", env={"CIRCLE_PROGRESS": "always"})
    assert run.code == 0
    total = sum(len(f"object {i}") for i in range(20))
    assert f"{total}/{total} bytes" in run.stderr and "sync: 20 to copy" in run.stderr


def test_a_file_as_sync_target_is_a_usage_error(pair: dict[str, Any], tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the target folder should be")
    run = c(pair, "sync", "src:", str(blocked))
    assert run.code == 2 and "not files" in run.stderr
