"""Listings: pagination, delimiters, start_after, prefix scoping."""

from __future__ import annotations

import pytest

from core.storage import CommonPrefix, InvalidArgument, ObjectInfo, ObjectStore

from ._support import assert_unsupported, expect_gap, keys, names


def _fill(store: ObjectStore, names_: list[str]) -> None:
    for name in names_:
        store.put(name, name.encode())


def test_list_page_paginates_across_pages(store: ObjectStore) -> None:
    expected = [f"p/{i:02d}" for i in range(8)]
    _fill(store, [*expected, "q/outside"])
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.list_page("p/", page_size=3, token=token)
        assert len(page.objects) <= 3
        assert page.prefixes == []
        seen += [o.key for o in page.objects]
        pages += 1
        token = page.next_token
        if token is None:
            break
        assert isinstance(token, str) and token
        assert pages < 10, "pagination does not end"
    assert pages >= 3
    assert seen == expected
    assert keys(store, "p/") == expected
    assert keys(store) == [*expected, "q/outside"]


def test_list_entries_carry_info(store: ObjectStore) -> None:
    store.put("info/a", b"12345")
    [entry] = list(store.list("info/"))
    assert isinstance(entry, ObjectInfo)
    assert (entry.key, entry.size) == ("info/a", 5)
    assert entry.etag == store.head("info/a").etag
    assert entry.last_modified is not None


def test_delimiter_groups_common_prefixes(store: ObjectStore) -> None:
    _fill(store, ["d/a", "d/b/1", "d/b/2", "d/c/x/y", "d/e", "top"])
    if not store.capabilities.list_with_delimiter:
        assert_unsupported(store.list_page, "d/", delimiter="/")
        return
    page = store.list_page("d/", delimiter="/")
    assert [o.key for o in page.objects] == ["d/a", "d/e"]
    assert page.prefixes == [CommonPrefix("d/b/"), CommonPrefix("d/c/")]
    assert all(isinstance(p, CommonPrefix) and not isinstance(p, ObjectInfo) for p in page.prefixes)
    assert page.next_token is None
    root = list(store.list(delimiter="/"))
    assert sorted(names(root)) == ["d/", "top"]
    assert isinstance(next(e for e in root if names([e]) == ["d/"]), CommonPrefix)
    # a prefix that is not a folder boundary
    page = store.list_page("d/b", delimiter="/")
    assert page.objects == [] and page.prefixes == [CommonPrefix("d/b/")]


def test_delimiter_pagination(store: ObjectStore, rig: str, request: pytest.FixtureRequest) -> None:
    expect_gap(request, rig, "list_v1_delimiter_page_size")
    _fill(store, ["m/a", "m/b/1", "m/b/2", "m/c/1", "m/d", "m/e/1", "m/f"])
    if not store.capabilities.list_with_delimiter:
        return
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = store.list_page("m/", delimiter="/", page_size=2, token=token)
        assert len(page.objects) + len(page.prefixes) <= 2
        seen += [o.key for o in page.objects] + [p.prefix for p in page.prefixes]
        token = page.next_token
        if token is None:
            break
    assert sorted(seen) == ["m/a", "m/b/", "m/c/", "m/d", "m/e/", "m/f"]
    assert len(seen) == len(set(seen))


def test_start_after_is_exclusive(store: ObjectStore) -> None:
    _fill(store, [f"s/{i}" for i in range(1, 6)])
    if not store.capabilities.list_with_start_after:
        assert_unsupported(store.list_page, "s/", start_after="s/2")
        return
    assert [o.key for o in store.list("s/", start_after="s/2")] == ["s/3", "s/4", "s/5"]  # type: ignore[union-attr]
    assert keys_after(store, "s/25") == ["s/3", "s/4", "s/5"]
    assert keys_after(store, "s/5") == []
    assert keys_after(store, "a") == [f"s/{i}" for i in range(1, 6)]
    page = store.list_page("s/", start_after="s/1", page_size=2)
    assert [o.key for o in page.objects] == ["s/2", "s/3"]
    rest = store.list_page("s/", start_after="s/1", page_size=2, token=page.next_token)
    assert [o.key for o in rest.objects] == ["s/4", "s/5"]


def keys_after(store: ObjectStore, after: str) -> list[str]:
    return [e.key for e in store.list("s/", start_after=after) if isinstance(e, ObjectInfo)]


def test_prefix_scoping(store: ObjectStore) -> None:
    """A store scoped to a prefix sees and writes only under it, with keys relative to it."""
    _fill(store, ["scope/a", "scope/sub/b", "scoped-not", "other"])
    scoped = store.scoped("scope")  # the same bucket, scoped like a URL prefix
    assert scoped.url == store.url + "/scope"
    assert keys(scoped) == ["a", "sub/b"]
    assert scoped.get("a").read() == b"scope/a"
    assert scoped.head("sub/b").key == "sub/b"
    info = scoped.put("c", b"new")
    assert info.key == "c"
    assert store.get("scope/c").read() == b"new"
    page = scoped.list_page(delimiter="/") if store.capabilities.list_with_delimiter else None
    if page is not None:
        assert [o.key for o in page.objects] == ["a", "c"]
        assert page.prefixes == [CommonPrefix("sub/")]
    scoped.delete("a")
    assert keys(store) == ["other", "scope/c", "scope/sub/b", "scoped-not"]


def test_empty_listing_and_bad_page_size(store: ObjectStore) -> None:
    page = store.list_page("nothing/")
    assert (page.objects, page.prefixes, page.next_token) == ([], [], None)
    with pytest.raises(InvalidArgument):
        store.list_page(page_size=0)
    with pytest.raises(InvalidArgument):
        store.list_page(page_size=store.capabilities.list_max_page_size + 1)
