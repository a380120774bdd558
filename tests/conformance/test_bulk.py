"""Batch deletes and streaming writes of unknown length (the multipart / block / resumable path)."""

from __future__ import annotations

from typing import Any

import pytest

from core.storage import AlreadyExists, ObjectStore, PreconditionFailed, Unsupported

from ._support import SMALL_PART, chunks, expect_gap, keys, md5

NATIVE_PARTS = {"memory", "file"}  # rigs whose stores take no part-size option


def test_delete_many_across_batches(store: ObjectStore) -> None:
    top = store.capabilities.delete_many_max
    count = top + 1 if top <= 16 else 12  # cross a batch boundary where that stays cheap
    names = [f"del/{i:04d}" for i in range(count)]
    for name in names:
        store.put(name, b"x")
    store.put("keep", b"k")
    failures = store.delete_many([*names, "del/never-existed"])
    assert failures == []
    assert keys(store) == ["keep"]


def _multipart_store(store: ObjectStore, rig: str, other_store: Any) -> tuple[ObjectStore, int]:
    """A store of the same rig whose part size is small (the provider's minimum), and that size."""
    if rig in NATIVE_PARTS:
        return store, SMALL_PART
    part = max(store.capabilities.write_multi_min_size, SMALL_PART)
    return other_store(rig, part_size=part), part


def test_streaming_put_above_part_size(
    store: ObjectStore, rig: str, other_store: Any, request: pytest.FixtureRequest
) -> None:
    expect_gap(request, rig, "write_multi_with_if_match")
    expect_gap(request, rig, "write_with_if_none_match")
    target, part = _multipart_store(store, rig, other_store)
    if not target.capabilities.write_multi:
        with pytest.raises(Unsupported):
            target.put("big/stream.bin", chunks(bytes(part * 3)))
        return
    data = bytes(range(256)) * (part * 5 // 2 // 256)  # 2.5 parts
    info = target.put("big/stream.bin", chunks(data), content_type="application/x-big", metadata={"p": "1"})
    assert info.size == len(data)
    head = target.head("big/stream.bin")
    assert (head.size, head.content_type, dict(head.metadata)) == (len(data), "application/x-big", {"p": "1"})
    assert md5(target.get("big/stream.bin").read()) == md5(data)
    caps = target.capabilities
    if caps.write_with_if_none_match:
        with pytest.raises(AlreadyExists):
            target.put("big/stream.bin", chunks(data[::-1]), if_none_match="*")
    if caps.write_with_if_match:
        with pytest.raises(PreconditionFailed):
            target.put("big/stream.bin", chunks(data[::-1]), if_match="0123456789abcdef0123456789abcdef")
    assert target.head("big/stream.bin").etag == head.etag
    if caps.write_with_if_match:
        assert head.etag is not None
        target.put("big/stream.bin", chunks(data[::-1]), if_match=head.etag)
        assert md5(target.get("big/stream.bin").read()) == md5(data[::-1])


@pytest.mark.parametrize("fail_after_parts", [0.5, 1.5])
def test_failed_streaming_put_leaves_nothing(
    store: ObjectStore, rig: str, other_store: Any, fail_after_parts: float
) -> None:
    target, part = _multipart_store(store, rig, other_store)
    data = bytes(range(256)) * (part * 3 // 256)
    with pytest.raises(RuntimeError, match="mid-stream"):
        target.put("big/failed.bin", chunks(data, fail_after=int(part * fail_after_parts)))
    assert not target.exists("big/failed.bin")
    assert keys(target) == []
    target.put("big/failed.bin", b"after")  # and the key is still usable
    assert target.get("big/failed.bin").read() == b"after"


def test_failed_streaming_overwrite_keeps_old(store: ObjectStore, rig: str, other_store: Any) -> None:
    target, part = _multipart_store(store, rig, other_store)
    target.put("big/keep.bin", b"old")
    data = bytes(part * 2)
    with pytest.raises(RuntimeError):
        target.put("big/keep.bin", chunks(data, fail_after=part + 1))
    assert target.get("big/keep.bin").read() == b"old"
