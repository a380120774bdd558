"""``circle sync`` between two stores on one endpoint and credential copies server-side: one CopyObject
(after a HEAD for the source's metadata) per object, no GET or PUT of the bytes, and the copy carries
what a streamed copy carries (content type, the source's metadata, the ``circle_source_etag`` stamp).
Requests are counted by the fault proxy in front of moto."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.handlers.sync import SOURCE_ETAG, sync_stores
from core.storage import ObjectStore, open_store
from tests.cli.conftest import circle, write_config
from tests.fakes.fault_proxy import FaultProxy, Seen

N = 12
CREDS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing"}


def kind(seen: Seen) -> str:
    """The S3 operation of a request as the proxy saw it."""
    if seen.method == "PUT" and "x-amz-copy-source" in seen.headers:
        return "CopyObject"
    if seen.method == "GET" and "list-type=2" in seen.path:
        return "ListObjectsV2"
    return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject"}.get(seen.method, seen.method)


@pytest.fixture
def proxy(emulators: Any) -> Iterator[FaultProxy]:
    with FaultProxy(emulators.s3_endpoint) as p:
        yield p


def seeded(emulators: Any, proxy: FaultProxy) -> tuple[str, ObjectStore]:
    bucket = f"sss-{uuid.uuid4().hex[:12]}"
    emulators.create_bucket("s3", bucket)
    src = open_store(f"s3://{bucket}", endpoint_url=proxy.url, **CREDS)
    for i in range(N):
        src.put(f"k/{i:03}.txt", b"object %d" % i, content_type="text/plain", metadata={"owner": f"o{i}"})
    return bucket, src


def assert_copies(src: ObjectStore, dst: ObjectStore, prefix: str = "k/") -> None:
    """Every copy holds the bytes, content type and metadata of its source, and the stamp names it."""
    for i in range(N):
        key = f"{prefix}{i:03}.txt"
        source, copy = src.head(key), dst.head(key)
        assert dst.get(key).read() == b"object %d" % i
        assert copy.content_type == "text/plain"
        assert copy.metadata == {"owner": f"o{i}", SOURCE_ETAG: source.etag}


@pytest.mark.parametrize("layout", ["two buckets", "two prefixes of one bucket"])
def test_same_endpoint_sync_is_one_copy_request_per_object(emulators: Any, proxy: FaultProxy, layout: str) -> None:
    bucket, whole = seeded(emulators, proxy)
    src = whole.scoped("k/")
    if layout == "two buckets":
        emulators.create_bucket("s3", f"{bucket}-dst")
        dst = open_store(f"s3://{bucket}-dst/k", endpoint_url=proxy.url, **CREDS)
    else:
        dst = whole.scoped("mirror/k/")
    assert dst.can_copy_from(src)
    proxy.clear()

    report = sync_stores(src, dst, parallel=4)

    ops = Counter(kind(s) for s in proxy.requests)
    assert (report.copied, report.failed) == (N, 0)
    assert (ops["CopyObject"], ops["HeadObject"], ops["GetObject"], ops["PutObject"]) == (N, N, 0, 0)
    assert_copies(src, dst, prefix="")

    proxy.clear()
    again = sync_stores(src, dst)
    assert (again.copied, again.skipped) == (0, N)
    assert set(Counter(kind(s) for s in proxy.requests)) == {"ListObjectsV2"}


def test_other_credentials_stream_the_bytes(emulators: Any, proxy: FaultProxy) -> None:
    bucket, src = seeded(emulators, proxy)
    other = f"{bucket}-dst"
    emulators.create_bucket("s3", other)
    # moto accepts any key: the same endpoint with another credential must not copy server-side (on AWS
    # the second identity may not read the source)
    dst = open_store(
        f"s3://{other}", endpoint_url=proxy.url, region="us-east-1", access_key_id="other", secret_access_key="x"
    )
    assert not dst.can_copy_from(src)
    proxy.clear()

    report = sync_stores(src, dst, parallel=4)

    ops = Counter(kind(s) for s in proxy.requests)
    assert report.copied == N and ops["CopyObject"] == 0
    assert ops["GetObject"] == N and ops["PutObject"] == N
    assert_copies(src, dst)


def test_circle_sync_between_two_buckets_of_one_endpoint(emulators: Any, proxy: FaultProxy, tmp_path: Path) -> None:
    bucket, src = seeded(emulators, proxy)
    emulators.create_bucket("s3", f"{bucket}-dst")
    options = "".join(f'{k} = "{v}"\n' for k, v in {**CREDS, "endpoint_url": proxy.url}.items())
    config = write_config(
        tmp_path / "circle.toml",
        f'[stores.a]\nurl = "s3://{bucket}"\n{options}[stores.b]\nurl = "s3://{bucket}-dst"\n{options}',
    )
    proxy.clear()
    run = circle("--config", str(config), "--json", "sync", "a:k/", "b:k/")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["copied"] == N
    ops = Counter(kind(s) for s in proxy.requests)
    assert (ops["CopyObject"], ops["GetObject"], ops["PutObject"]) == (N, 0, 0)
    assert_copies(src, open_store(f"s3://{bucket}-dst", endpoint_url=proxy.url, **CREDS))
