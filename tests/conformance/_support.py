"""Helpers shared by the conformance suite (not tests themselves)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from core.storage import CommonPrefix, ObjectInfo, ObjectStore, Unsupported
from tests import rigs

SMALL_PART = 256 * 1024  # part size for stores without a minimum (memory, file)

# Headers a presigned PUT must carry besides the signed Content-Type, by URL scheme.
PRESIGN_PUT_HEADERS: dict[str, dict[str, str]] = {
    "az": {"x-ms-blob-type": "BlockBlob"},
}


def scheme(store: ObjectStore) -> str:
    return store.url.split(":", 1)[0]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def chunks(data: bytes, size: int = 64 * 1024, fail_after: int | None = None) -> Iterator[bytes]:
    """``data`` as an iterable of unknown length; raises ``RuntimeError`` after ``fail_after`` bytes."""
    sent = 0
    for i in range(0, len(data), size):
        if fail_after is not None and sent >= fail_after:
            raise RuntimeError("the source failed mid-stream")
        piece = data[i : i + size]
        sent += len(piece)
        yield piece
    if fail_after is not None:
        raise RuntimeError("the source failed at the end")


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    """Every object key under ``prefix`` (no delimiter), in listing order."""
    out = []
    for entry in store.list(prefix):
        assert isinstance(entry, ObjectInfo), entry
        out.append(entry.key)
    return out


def names(entries: list[ObjectInfo | CommonPrefix]) -> list[str]:
    return [e.key if isinstance(e, ObjectInfo) else e.prefix for e in entries]


def assert_unsupported(fn: object, *args: object, **kwargs: object) -> None:
    """An absent capability must raise ``Unsupported``, never silently do something weaker."""
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except Unsupported:
        return
    raise AssertionError(f"{fn} did not raise Unsupported although the capability is absent")


def expect_gap(request: pytest.FixtureRequest, rig: str, gap: str) -> None:
    """Mark this test xfail(strict) when the rig's emulator does not enforce ``gap``: the test still
    runs, and must fail, so a fixed emulator turns it red until the mark goes."""
    reason = rigs.emulator_gaps(rig).get(gap)
    if reason:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))
