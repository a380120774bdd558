"""Presigned URLs, fetched with a plain HTTP client."""

from __future__ import annotations

import requests

from core.storage import ObjectStore

from ._support import PRESIGN_PUT_HEADERS, assert_unsupported, scheme


def test_presign_get(store: ObjectStore) -> None:
    store.put("ps/get.txt", b"signed read", content_type="text/plain")
    if not store.capabilities.presign_read:
        assert_unsupported(store.presign, "ps/get.txt", "GET")
        return
    url = store.presign("ps/get.txt", "GET", expires=300)
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:500]
    assert response.content == b"signed read"
    missing = requests.get(store.presign("ps/none.txt", "GET", expires=300), timeout=30)
    assert missing.status_code == 404


def test_presign_put(store: ObjectStore) -> None:
    if not store.capabilities.presign_write:
        assert_unsupported(store.presign, "ps/put.txt", "PUT", content_type="text/plain")
        assert not store.exists("ps/put.txt")
        return
    url = store.presign("ps/put.txt", "PUT", expires=300, content_type="text/plain")
    headers = {"Content-Type": "text/plain", **PRESIGN_PUT_HEADERS.get(scheme(store), {})}
    response = requests.put(url, data=b"signed write", headers=headers, timeout=30)
    assert response.status_code in (200, 201), response.text[:500]
    assert store.get("ps/put.txt").read() == b"signed write"
    assert store.head("ps/put.txt").content_type == "text/plain"
