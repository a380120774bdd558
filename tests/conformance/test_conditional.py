"""Conditional operations: create-only, compare-and-swap, conditional reads and deletes."""

from __future__ import annotations

import pytest

from core.storage import AlreadyExists, NotFound, ObjectStore, PreconditionFailed

from ._support import assert_unsupported, expect_gap


def test_create_only(store: ObjectStore, rig: str, request: pytest.FixtureRequest) -> None:
    expect_gap(request, rig, "write_with_if_none_match")
    if not store.capabilities.write_with_if_none_match:
        assert_unsupported(store.put, "once", b"1", if_none_match="*")
        return
    first = store.put("once", b"first", if_none_match="*", content_type="text/plain")
    with pytest.raises(AlreadyExists) as caught:
        store.put("once", b"second", if_none_match="*")
    assert isinstance(caught.value, FileExistsError)
    head = store.head("once")
    assert (head.etag, head.content_type) == (first.etag, "text/plain")
    assert store.get("once").read() == b"first"


def test_compare_and_swap(store: ObjectStore) -> None:
    if not store.capabilities.write_with_if_match:
        assert_unsupported(store.put, "cas", b"1", if_match="abc")
        return
    v1 = store.put("cas", b"v1")
    with pytest.raises(PreconditionFailed):
        store.put("cas", b"v2", if_match="0123456789abcdef0123456789abcdef")
    assert store.get("cas").read() == b"v1"
    assert store.head("cas").etag == v1.etag
    v2 = store.put("cas", b"v2", if_match=v1.etag)
    assert store.get("cas").read() == b"v2"
    with pytest.raises(PreconditionFailed):
        store.put("cas", b"v3", if_match=v1.etag)  # stale
    assert store.get("cas").read() == b"v2"
    assert v2.etag is not None
    store.put("cas", b"v3", if_match=f'"{v2.etag}"')  # quoted ETags are accepted
    assert store.get("cas").read() == b"v3"


def test_compare_and_swap_on_missing_is_not_found(store: ObjectStore) -> None:
    if not store.capabilities.write_with_if_match:
        return
    with pytest.raises(NotFound):
        store.put("absent", b"x", if_match="0123456789abcdef0123456789abcdef")
    assert not store.exists("absent")


def test_conditional_get(store: ObjectStore) -> None:
    info = store.put("cg", b"data")
    if not store.capabilities.read_with_if_match:
        assert_unsupported(store.get, "cg", if_match=info.etag)
        return
    assert store.get("cg", if_match=info.etag).read() == b"data"
    assert store.get("cg", if_match=f'"{info.etag}"').read() == b"data"
    with pytest.raises(PreconditionFailed):
        store.get("cg", if_match="0123456789abcdef0123456789abcdef").read()


def test_conditional_delete(store: ObjectStore) -> None:
    info = store.put("cd", b"data")
    if not store.capabilities.delete_with_if_match:
        assert_unsupported(store.delete, "cd", if_match=info.etag)
        return
    with pytest.raises(PreconditionFailed):
        store.delete("cd", if_match="0123456789abcdef0123456789abcdef")
    assert store.exists("cd")
    with pytest.raises(NotFound):
        store.delete("never-was", if_match=info.etag)
    store.delete("cd", if_match=f'"{info.etag}"')
    assert not store.exists("cd")
