"""Basic object operations: put/get/head/delete, ranges, metadata, errors, keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.storage import InvalidKey, NotFound, ObjectInfo, ObjectStore, StorageError

from ._support import assert_unsupported, keys, md5


def test_put_get_head_delete(store: ObjectStore) -> None:
    info = store.put("obj/one.bin", b"hello world")
    assert info.key == "obj/one.bin"
    assert info.size == 11
    assert info.etag and not info.etag.startswith('"')
    with store.get("obj/one.bin") as reader:
        assert reader.read() == b"hello world"
        assert reader.info.size == 11
        assert reader.info.etag == info.etag
    head = store.head("obj/one.bin")
    assert (head.key, head.size, head.etag) == ("obj/one.bin", 11, info.etag)
    assert head.content_type == "application/octet-stream"
    assert head.last_modified is not None and head.last_modified.utcoffset() == timedelta(0)
    if store.capabilities.etag_is_md5:
        assert head.etag == md5(b"hello world")
    if "md5" in store.capabilities.checksums:
        assert head.checksums.get("md5") == md5(b"hello world")
    if store.capabilities.versioning:
        assert head.version
    assert store.exists("obj/one.bin")
    store.delete("obj/one.bin")
    assert not store.exists("obj/one.bin")
    store.delete("obj/one.bin")  # a missing key is fine


def test_overwrite_and_empty_object(store: ObjectStore) -> None:
    store.put("ow", b"first")
    store.put("ow", b"second!")
    assert store.get("ow").read() == b"second!"
    assert store.head("ow").size == 7
    if store.capabilities.write_can_empty:
        store.put("empty", b"")
        assert store.get("empty").read() == b""
        assert store.head("empty").size == 0


def test_missing_key_is_not_found(store: ObjectStore) -> None:
    for op in (lambda: store.get("no/such/key"), lambda: store.head("no/such/key")):
        with pytest.raises(NotFound) as caught:
            op()
        assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        store.get("no/such/key").read()


def test_errors_carry_provider_operation_key(store: ObjectStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("missing/where.txt")
    err = caught.value
    assert err.provider == store.provider
    assert err.operation == "get"
    assert err.key is not None and err.key.endswith("missing/where.txt")
    assert "missing/where.txt" in str(err)
    assert not err.retryable


def test_reader_streams_chunks_and_reads_partially(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    store.put("stream.bin", data)
    with store.get("stream.bin") as reader:
        assert reader.read(10) == data[:10]
        rest = b"".join(reader)
    assert rest == data[10:]


RANGE_DATA = bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (100, None, RANGE_DATA[100:]),
        (100, 200, RANGE_DATA[100:200]),
        (-10, None, RANGE_DATA[-10:]),
        (2000, None, b""),
        (10, 5000, RANGE_DATA[10:]),
        (0, 1, RANGE_DATA[:1]),
        (5, 5, b""),
        (-5000, None, RANGE_DATA),
    ],
)
def test_ranges(store: ObjectStore, start: int, end: int | None, expected: bytes) -> None:
    store.put("range.bin", RANGE_DATA)
    if not store.capabilities.read_with_range:
        assert_unsupported(store.get, "range.bin", start=start, end=end)
        return
    with store.get("range.bin", start=start, end=end) as reader:
        assert reader.read() == expected
        assert reader.info.key == "range.bin"


def test_content_type_and_metadata_round_trip(store: ObjectStore) -> None:
    caps = store.capabilities
    meta = {"Color": "Blue", "multi-word": "a value with spaces", "n_2": "42"}
    if not caps.write_with_metadata:
        assert_unsupported(store.put, "meta.txt", b"x", metadata=meta)
        return
    info = store.put("meta.txt", b"text", content_type="text/plain", metadata=meta)
    expected = {"color": "Blue", "multi-word": "a value with spaces", "n_2": "42"}
    assert info.metadata == expected
    head = store.head("meta.txt")
    assert head.metadata == expected
    if caps.write_with_content_type:
        assert info.content_type == "text/plain"
        assert head.content_type == "text/plain"
    with store.get("meta.txt") as reader:
        assert reader.info.metadata == expected
        assert reader.info.content_type == "text/plain"
    listed = [e for e in store.list("meta") if isinstance(e, ObjectInfo)]
    assert [e.key for e in listed] == ["meta.txt"]
    assert listed[0].size == 4


ODD_KEYS = [
    "with space.txt",
    "plus+sign",
    "percent%20not-decoded",
    "hash#and?question",
    "日本/ü é",
    "deep/" + "/".join(f"level{i}" for i in range(20)) + "/leaf",
    "semi;colon,comma=eq&amp@at$dollar'quote(paren)",
    "tilde~star*bang!",
]


def long_key() -> str:
    """A 1024-byte key whose segments stay under every filesystem's 255-byte name limit."""
    key = ("k" * 200 + "/") * 5
    key += "z" * (1024 - len(key.encode()))
    assert len(key.encode()) == 1024
    return key


@pytest.mark.parametrize("key", [*ODD_KEYS, "LONG"], ids=[*range(len(ODD_KEYS)), "1024-bytes"])
def test_keys_round_trip(store: ObjectStore, key: str) -> None:
    key = long_key() if key == "LONG" else key
    data = key.encode()
    info = store.put(key, data)
    assert info.key == key
    assert store.get(key).read() == data
    assert store.head(key).key == key
    assert keys(store) == [key]
    first = key.split("/")[0]
    assert keys(store, first) == [key]
    store.delete(key)
    assert keys(store) == []
    with pytest.raises(NotFound):
        store.head(key)


@pytest.mark.parametrize("key", ["", "x" * 1025, "a\x00b", "日" * 342])
def test_invalid_keys_write_nothing(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        store.put(key, b"data")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidKey):
        store.get(key)
    assert keys(store) == []


def test_put_rejects_str(store: ObjectStore) -> None:
    with pytest.raises(StorageError):
        store.put("s", "text, not bytes")  # type: ignore[arg-type]
    assert keys(store) == []
