"""Server-side copies within a store and streaming copies between stores."""

from __future__ import annotations

from typing import Any

import pytest

from core.storage import AlreadyExists, NotFound, ObjectStore, copy_object

from ._support import assert_unsupported, expect_gap, md5

META = {"origin": "conformance", "n": "1"}


def test_copy_within_store(store: ObjectStore) -> None:
    store.put("src/a.txt", b"payload", content_type="text/plain", metadata=META)
    if not store.capabilities.copy:
        assert_unsupported(store.copy, "src/a.txt", "dst/a.txt")
        return
    info = store.copy("src/a.txt", "dst/a.txt")
    assert info.key == "dst/a.txt"
    assert store.get("dst/a.txt").read() == b"payload"
    head = store.head("dst/a.txt")
    assert head.size == 7
    assert head.content_type == "text/plain"
    assert head.metadata == META
    assert store.get("src/a.txt").read() == b"payload"
    with pytest.raises(NotFound):
        store.copy("src/missing", "dst/missing")
    assert not store.exists("dst/missing")


def test_create_only_copy(store: ObjectStore, rig: str, request: pytest.FixtureRequest) -> None:
    expect_gap(request, rig, "copy_with_if_none_match")
    store.put("c/src", b"new")
    store.put("c/dst", b"old")
    if not (store.capabilities.copy and store.capabilities.copy_with_if_none_match):
        assert_unsupported(store.copy, "c/src", "c/dst", if_none_match="*")
        return
    with pytest.raises(AlreadyExists):
        store.copy("c/src", "c/dst", if_none_match="*")
    assert store.get("c/dst").read() == b"old"
    store.copy("c/src", "c/fresh", if_none_match="*")
    assert store.get("c/fresh").read() == b"new"


@pytest.mark.parametrize("direction", ["to-memory", "from-memory"])
def test_cross_store_copy(
    store: ObjectStore, other_store: Any, direction: str, rig: str, request: pytest.FixtureRequest
) -> None:
    if direction == "from-memory":
        expect_gap(request, rig, "write_with_if_none_match")
    memory = other_store("memory")
    src, dst = (store, memory) if direction == "to-memory" else (memory, store)
    data = bytes(range(256)) * 1500  # 384,000 bytes: several read chunks
    src.put("x/source.bin", data, content_type="application/x-test", metadata=META)
    info = copy_object(src, "x/source.bin", dst, "y/copied.bin")
    assert info.size == len(data)
    head = dst.head("y/copied.bin")
    assert head.size == len(data)
    assert head.content_type == "application/x-test"
    assert head.metadata == META
    got = dst.get("y/copied.bin").read()
    assert md5(got) == md5(data)
    if dst.capabilities.write_with_if_none_match:
        with pytest.raises(AlreadyExists):
            copy_object(src, "x/source.bin", dst, "y/copied.bin", if_none_match="*")
