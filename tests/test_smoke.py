from core.storage import AlreadyExists, open_store


def test_memory_roundtrip() -> None:
    store = open_store("memory://smoke")
    info = store.put("a/b.txt", b"hello", content_type="text/plain", metadata={"X": "1"})
    assert info.size == 5
    assert store.get("a/b.txt").read() == b"hello"
    assert store.get("a/b.txt", start=-2).read() == b"lo"
    assert store.head("a/b.txt").metadata == {"x": "1"}
    try:
        store.put("a/b.txt", b"x", if_none_match="*")
    except AlreadyExists as exc:
        assert isinstance(exc, FileExistsError)
    else:
        raise AssertionError("create-only write overwrote")
