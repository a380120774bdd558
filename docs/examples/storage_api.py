"""README "The storage API", as a runnable file: ``PYTHONPATH=. python docs/examples/storage_api.py``
runs it on ``memory://``; tests/docs/test_examples.py also runs it from S3 (moto) to GCS
(fake-gcs-server). The same code runs on every scheme; only the URLs and their options change."""

from __future__ import annotations

import sys
from typing import Any


def main(source_url: str = "memory://incoming/data", target_url: str = "memory://archive", **options: Any) -> None:
    # --8<-- [start:storage-api]
    from core.storage import AlreadyExists, PreconditionFailed, copy_object, open_store

    s3 = open_store(source_url, **options)  # "s3://incoming/data", region="eu-west-1": the prefix scopes every key
    gs = open_store(target_url)  # "gs://archive", project=...; "az://replica", connection_string=...; "file:///srv"

    info = s3.put("a.csv", b"id,name\n1,ada\n", content_type="text/csv", metadata={"owner": "etl"})
    try:
        s3.put("a.csv", b"...", if_none_match="*")  # create-only
    except AlreadyExists:
        print("a.csv exists: create-only refused")
    try:
        s3.put("a.csv", b"...", if_match="not-the-etag")  # compare-and-swap
    except PreconditionFailed:
        print("a.csv changed since that ETag: compare-and-swap refused")
    s3.put("a.csv", b"id,name\n1,ada\n2,bob\n", content_type="text/csv", if_match=info.etag)  # this CAS wins
    with s3.get("a.csv", start=-6) as reader:  # streaming, file-like; ranges slice like Python
        tail = reader.read()  # b"2,bob\n"
    listed = [item.key for item in s3.list("", delimiter="/")]  # ObjectInfo and CommonPrefix, all pages, lazily
    copy_object(s3, "a.csv", gs, "a.csv")  # bounded memory, keeps type + metadata, verified
    url = s3.presign("a.csv", "GET", expires=600) if s3.capabilities.presign_read else None
    create_only = s3.capabilities.write_with_if_none_match  # typed flags and limits drive code and tests
    # --8<-- [end:storage-api]
    assert tail == b"2,bob\n" and listed == ["a.csv"] and create_only in (True, False)
    print("presigned:", url)
    with gs.get("a.csv") as reader:
        assert reader.read() == b"id,name\n1,ada\n2,bob\n" and reader.info.content_type == "text/csv"
    print(s3.url, "->", gs.url, tail)


if __name__ == "__main__":
    main(*sys.argv[1:])
