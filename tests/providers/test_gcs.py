"""The GCS provider against fake-gcs-server: every operation, its conditions and its error paths."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
import requests
import urllib3.exceptions
from google.api_core import exceptions as gexc
from google.auth import exceptions as gauth_exc
from google.cloud.storage.exceptions import DataCorruption

from core.storage import (
    AlreadyExists,
    CommonPrefix,
    IntegrityError,
    InvalidArgument,
    NotFound,
    ObjectStore,
    PermissionDenied,
    PreconditionFailed,
    RetryPolicy,
    Throttled,
    TransientError,
    Unauthenticated,
    Unsupported,
    open_store,
)
from core.storage.providers.gcs import GCSBackend
from scripts.emulators import free_port
from tests.fakes.fault_proxy import Fault, FaultProxy, status
from tests.rigs import RigContext
from tests.rigs import gcs as rig

pytestmark = pytest.mark.emulator
KiB = 1024
MiB = 1024 * KiB
PART = 256 * KiB
FAST = RetryPolicy(max_attempts=1)


@pytest.fixture
def endpoint(rig_context: RigContext) -> str:
    return str(rig_context.emulators().gcs_endpoint)


@pytest.fixture
def store(rig_context: RigContext) -> Iterator[ObjectStore]:
    s = rig.make(rig_context, part_size=PART)
    yield s
    s.close()


@pytest.fixture
def missing_bucket(endpoint: str) -> Iterator[ObjectStore]:
    s = open_store(
        f"gs://{RigContext.unique('gone')}", endpoint_url=endpoint, anonymous=True, part_size=PART, retry=FAST
    )
    yield s
    s.close()


def backend(store: ObjectStore) -> GCSBackend:
    b = store._backend
    assert isinstance(b, GCSBackend)
    return b


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def stream(data: bytes, size: int = 64 * KiB, fail_after: int | None = None) -> Iterator[bytes]:
    """``data`` as an iterable of unknown length, optionally raising after ``fail_after`` bytes."""
    for i in range(0, len(data), size):
        if fail_after is not None and i >= fail_after:
            raise RuntimeError("source failed")
        yield data[i : i + size]


def blob_data(size: int) -> bytes:
    return hashlib.sha256(str(size).encode()).digest() * (size // 32) + b"x" * (size % 32)


# -- reads and metadata ------------------------------------------------------------------------------------
def test_put_head_get_round_trip_fields(store: ObjectStore, endpoint: str) -> None:
    info = store.put("a.txt", b"hello", content_type="text/plain", metadata={"Owner": "me", "x_y": "1"})
    sdk = rig.admin_client(endpoint).bucket(backend(store).bucket).get_blob("a.txt")
    assert sdk is not None
    assert info.version == str(sdk.generation)
    assert info.etag is not None and info.etag == sdk.etag and not info.etag.startswith('"')
    assert info.checksums == {"md5": hashlib.md5(b"hello").hexdigest(), "crc32c": crc32c_b64(b"hello")}
    head = store.head("a.txt")
    assert (head.size, head.etag, head.content_type, head.version) == (5, info.etag, "text/plain", info.version)
    assert isinstance(head.size, int)
    assert dict(head.metadata) == {"owner": "me", "x_y": "1"}
    assert head.last_modified is not None and head.last_modified.tzinfo == UTC
    assert head.last_modified == sdk.updated
    with store.get("a.txt") as reader:
        assert reader.read() == b"hello"
        got = reader.info
    assert (got.size, got.etag, got.version, got.content_type) == (5, info.etag, info.version, "text/plain")
    assert dict(got.metadata) == {"owner": "me", "x_y": "1"}
    assert got.checksums == info.checksums
    assert got.last_modified is not None and got.last_modified.tzinfo == UTC


def test_default_content_type_and_empty_object(store: ObjectStore) -> None:
    info = store.put("empty", b"")
    assert info.size == 0
    assert store.head("empty").content_type == "application/octet-stream"
    assert store.get("empty").read() == b""


@pytest.mark.parametrize(
    "key",
    ["with space", "plus+sign", "pct%20", "hash#frag", "q?x=1", "ünïcødé/日本", "deep/" * 20 + "leaf", "k" * 1024],
)
def test_keys_round_trip(store: ObjectStore, key: str) -> None:
    store.put(key, key.encode())
    assert store.get(key).read() == key.encode()
    assert store.head(key).key == key
    assert [e.key for e in store.list() if not isinstance(e, CommonPrefix)] == [key]
    store.delete(key)
    assert not store.exists(key)


def test_get_streams_in_chunks(store: ObjectStore) -> None:
    data = blob_data(3 * MiB + 5)
    store.put("big", data)
    with store.get("big") as reader:
        chunks = list(reader)
    assert len(chunks) >= 3 and max(len(c) for c in chunks) <= MiB
    assert b"".join(chunks) == data


def media_pool(store: ObjectStore, endpoint: str) -> Any:
    """The urllib3 connection pool object downloads use for ``endpoint``."""
    return backend(store)._media._http.http.connection_from_url(endpoint)


def test_reads_read_to_the_end_reuse_one_connection(store: ObjectStore, endpoint: str) -> None:
    store.put("small", b"s" * 100)
    for _ in range(20):
        assert store.get("small").read() == b"s" * 100
    assert media_pool(store, endpoint).num_connections == 1
    store.put("big", blob_data(3 * MiB))
    with store.get("big") as reader:  # left after its first chunk: its socket is closed, its slot reused
        next(iter(reader))
    assert store.get("small").read() == b"s" * 100
    assert store.get("big").read() == blob_data(3 * MiB)
    assert media_pool(store, endpoint).num_connections == 1


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
def test_reads_take_the_environment_proxy_as_requests_would(
    rig_context: RigContext, endpoint: str, no_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = rig_context.unique()
    rig.make(rig_context, bucket=bucket).put("k", b"through")
    with FaultProxy(endpoint) as proxy:  # forwards absolute-form requests too: a stand-in forward proxy
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        s = open_store(f"gs://{bucket}", endpoint_url=endpoint, anonymous=True, retry=FAST)
        assert s.get("k").read() == b"through"
        media = [r for r in proxy.requests if "alt=media" in r.path]
        assert len(media) == (0 if no_proxy else 1)
        s.close()


def test_ca_bundle_from_the_environment(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    s = open_store("gs://b", endpoint_url=endpoint, anonymous=True)
    assert backend(s)._media._http.http.connection_pool_kw["ca_certs"] == str(bundle)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    import certifi

    default = open_store("gs://b", endpoint_url=endpoint, anonymous=True)
    assert backend(default)._media._http.http.connection_pool_kw["ca_certs"] == certifi.where()


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (403, {"error": {"code": 403, "message": "no", "errors": [{"reason": "forbidden"}]}}, PermissionDenied),
        (429, {"error": {"code": 429, "message": "slow", "errors": [{"reason": "rateLimitExceeded"}]}}, Throttled),
        (500, None, TransientError),
    ],
)
def test_error_answers_to_a_read(
    rig_context: RigContext, endpoint: str, code: int, body: dict[str, Any] | None, expected: type[Exception]
) -> None:
    with FaultProxy(endpoint) as proxy:
        s = rig.make(rig_context, via=proxy.url, retry=FAST)
        s.put("k", b"v")
        answer = json.dumps(body).encode() if body else b"plain failure"
        kind = "application/json" if body else "text/plain"
        proxy.inject(Fault(code, answer, (("Content-Type", kind),)), method="GET", path_contains="alt=media")
        with pytest.raises(expected) as err:
            s.get("k")
        if body:
            assert body["error"]["message"] in str(err.value)
        assert s.get("k").read() == b"v"  # the fault was one answer; the pool still works
        s.close()


def test_ranges(store: ObjectStore) -> None:
    info = store.put("r", b"0123456789")
    assert store.get("r", start=2, end=5).read() == b"234"
    assert store.get("r", start=7).read() == b"789"
    assert store.get("r", start=-3).read() == b"789"
    ranged = store.get("r", start=2, end=5)
    assert (ranged.info.size, ranged.info.etag) == (10, info.etag)  # the object's size, not the range's
    past = store.get("r", start=20)
    assert past.read() == b"" and past.info.size == 10
    assert store.get("r", start=3, end=3).read() == b""


def test_get_if_match(store: ObjectStore) -> None:
    info = store.put("g", b"v1")
    assert store.get("g", if_match=info.etag).read() == b"v1"
    assert store.get("g", if_match=f'"{info.etag}"').read() == b"v1"
    with pytest.raises(PreconditionFailed):
        store.get("g", if_match="stale")
    with pytest.raises(PreconditionFailed):
        store.get("g", start=50, if_match="stale")
    with pytest.raises(NotFound):
        store.get("nope", if_match=info.etag)


def test_an_etag_starting_with_w_slash_is_not_a_weak_marker(store: ObjectStore, endpoint: str) -> None:
    """fake-gcs-server's ETags are base64 MD5s, so one object in 4096 gets one starting with ``W/``: this
    content's is ``W/BP6+LVXxUmXjJlgeYWCA==`` in the JSON API and ``"W/BP6+..."`` in the download header.
    Both must read as the same ETag, or every read pinned to the head's ETag fails (the replication
    handler's "source or replica kept changing")."""
    data = b"payload 6973"
    info = store.put("w-slash", data)
    sdk = rig.admin_client(endpoint).bucket(backend(store).bucket).get_blob("w-slash")
    assert sdk is not None and sdk.etag.startswith("W/"), sdk.etag  # the case this test is about
    assert info.etag == sdk.etag
    head = store.head("w-slash")
    assert head.etag == sdk.etag
    with store.get("w-slash", if_match=head.etag) as reader:  # a pinned read
        assert reader.read() == data
        assert reader.info.etag == head.etag
    assert store.get("w-slash", if_match=f'"{head.etag}"').read() == data  # quoted: the same tag
    with pytest.raises(PreconditionFailed):
        store.get("w-slash", if_match=head.etag.removeprefix("W/"))  # the tag without its first 2 chars
    store.delete("w-slash", if_match=head.etag)
    assert not store.exists("w-slash")


# -- single-request writes -----------------------------------------------------------------------------------
def test_create_only_single(store: ObjectStore) -> None:
    store.put("c", b"first", if_none_match="*")
    with pytest.raises(AlreadyExists):
        store.put("c", b"second", if_none_match="*")
    assert store.get("c").read() == b"first"


def test_compare_and_swap_single(store: ObjectStore) -> None:
    v1 = store.put("cas", b"v1")
    v2 = store.put("cas", b"v2", if_match=v1.etag)
    assert v2.etag != v1.etag and v2.version != v1.version
    with pytest.raises(PreconditionFailed):
        store.put("cas", b"v3", if_match=v1.etag)
    assert store.get("cas").read() == b"v2"
    with pytest.raises(NotFound):
        store.put("missing", b"x", if_match=v1.etag)
    assert not store.exists("missing")


# -- resumable writes ----------------------------------------------------------------------------------------
def test_resumable_put_from_iterable_and_file(store: ObjectStore, tmp_path: Path) -> None:
    data = blob_data(PART * 4 + 1234)
    info = store.put("res", stream(data), content_type="application/x-test", metadata={"k": "v"})
    assert info.size == len(data)
    assert info.checksums["md5"] == hashlib.md5(data).hexdigest()
    assert store.get("res").read() == data
    head = store.head("res")
    assert (head.content_type, dict(head.metadata), head.etag) == ("application/x-test", {"k": "v"}, info.etag)
    exact = blob_data(PART * 2)  # ends exactly on a chunk boundary
    path = tmp_path / "exact.bin"
    path.write_bytes(exact)
    with path.open("rb") as fh:
        store.put("exact", fh)
    assert store.get("exact").read() == exact


def test_failed_resumable_put_commits_nothing(store: ObjectStore) -> None:
    data = blob_data(PART * 4)
    with pytest.raises(RuntimeError, match="source failed"):  # the caller's own error, unchanged
        store.put("partial", stream(data, fail_after=PART * 2 + 10))
    assert not store.exists("partial")
    store.put("kept", b"old")
    with pytest.raises(RuntimeError):
        store.put("kept", stream(data, fail_after=PART * 3))
    assert store.get("kept").read() == b"old"


def test_resumable_create_only_and_cas(store: ObjectStore) -> None:
    data = blob_data(PART * 2 + 1)
    store.put("rc", stream(data), if_none_match="*")
    with pytest.raises(AlreadyExists):
        store.put("rc", stream(data), if_none_match="*")
    current = store.head("rc")
    with pytest.raises(PreconditionFailed):
        store.put("rc", stream(b"z" * len(data)), if_match="stale")
    swapped = store.put("rc", stream(b"y" * len(data)), if_match=current.etag)
    assert store.get("rc").read() == b"y" * len(data)
    assert swapped.etag != current.etag


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="fake-gcs-server does not enforce ifGenerationMatch on resumable uploads; "
    "real GCS rejects the final chunk with 412",
)
def test_resumable_create_only_is_enforced_server_side(store: ObjectStore, endpoint: str) -> None:
    """The object appears after the create-only check but before the upload commits."""
    bucket = rig.admin_client(endpoint).bucket(backend(store).bucket)

    def racing() -> Iterator[bytes]:
        yield b"a" * PART  # the first two parts are read before the create-only check
        yield b"b" * PART
        yield b"c" * PART
        bucket.blob("race").upload_from_string(b"winner", retry=None)  # after the upload began
        yield b"d"

    try:
        store.put("race", racing(), if_none_match="*")
    except AlreadyExists:
        pass
    else:
        raise AssertionError("the create-only resumable upload overwrote a concurrent write")
    assert store.get("race").read() == b"winner"


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="fake-gcs-server finalizes a resumable session when asked for its status "
    "(fsouza/fake-gcs-server#1362); GCS answers 308 with the committed Range",
)
def test_resumable_status_query_leaves_the_session_open(store: ObjectStore, endpoint: str) -> None:
    """What the provider's retry of a failed chunk relies on (``ResumableUpload.recover``)."""
    start = requests.post(
        f"{endpoint}/upload/storage/v1/b/{backend(store).bucket}/o?uploadType=resumable",
        json={"name": "status"},
        timeout=10,
    )
    session = start.headers["Location"]
    chunk = requests.put(session, data=b"a" * PART, headers={"Content-Range": f"bytes 0-{PART - 1}/*"}, timeout=10)
    assert (chunk.status_code, chunk.headers.get("Range")) == (308, f"bytes=0-{PART - 1}")
    query = requests.put(session, headers={"Content-Range": "bytes */*"}, timeout=10)
    assert (query.status_code, query.headers.get("Range")) == (308, f"bytes=0-{PART - 1}")
    assert not store.exists("status")


def test_resumable_session_closed_early_is_not_accepted(rig_context: RigContext, endpoint: str) -> None:
    """A status query answered with a finished object shorter than what was sent fails the put and removes
    that object. fake-gcs-server does this to any status query (see the xfail above), which makes the
    case reproducible: the second chunk fails once, the query closes the session after the first."""
    with FaultProxy(endpoint) as proxy:
        s = rig.make(rig_context, via=proxy.url, part_size=PART, retry=RetryPolicy(initial_backoff=0.001))
        try:
            proxy.inject(status(503), method="PUT", skip=1, times=1)
            with pytest.raises(IntegrityError, match="closed before all data was sent"):
                s.put("short", stream(blob_data(PART * 3)))
            assert [(r.headers.get("content-range"), r.status) for r in proxy.requests[1:4]] == [
                (f"bytes 0-{PART - 1}/*", 308),
                (f"bytes {PART}-{2 * PART - 1}/*", 503),
                ("bytes */*", 200),
            ]
            assert not s.exists("short")
        finally:
            s.close()


# -- deletes -------------------------------------------------------------------------------------------------
def test_delete_and_conditional_delete(store: ObjectStore) -> None:
    info = store.put("d", b"x")
    store.delete("never-existed")
    with pytest.raises(PreconditionFailed):
        store.delete("d", if_match="stale")
    assert store.exists("d")
    store.delete("d", if_match=info.etag)
    assert not store.exists("d")
    with pytest.raises(NotFound):
        store.delete("d", if_match=info.etag)
    store.delete("d")


def test_delete_many_beyond_one_batch(store: ObjectStore) -> None:
    keys = [f"many/{i:03d}" for i in range(130)]
    for key in keys:
        store.put(key, b"x")
    assert store.capabilities.delete_many_max == 100
    assert store.delete_many([*keys, "many/missing-1", "many/missing-2"]) == []
    assert list(store.list("many/")) == []


def test_delete_many_on_missing_bucket_reports_each_key(missing_bucket: ObjectStore) -> None:
    failures = missing_bucket.delete_many(["a", "b"])
    assert sorted(f.key for f in failures) == ["a", "b"]
    assert all(isinstance(f.error, NotFound) for f in failures)


# -- listing -------------------------------------------------------------------------------------------------
def test_listing_pages_delimiters_and_start_after(store: ObjectStore) -> None:
    for key in ["l/a", "l/b/1", "l/b/2", "l/c", "l/d/x/y", "l/e", "other"]:
        store.put(key, b"x")
    page = store.list_page("l/", delimiter="/")
    assert [o.key for o in page.objects] == ["l/a", "l/c", "l/e"]
    assert page.prefixes == [CommonPrefix("l/b/"), CommonPrefix("l/d/")]
    assert page.next_token is None
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = store.list_page("l/", delimiter="/", page_size=2, token=token)
        assert len(page.objects) + len(page.prefixes) <= 2
        seen += [o.key for o in page.objects] + [p.prefix for p in page.prefixes]
        token = page.next_token
        if token is None:
            break
    assert seen == ["l/a", "l/b/", "l/c", "l/d/", "l/e"]
    flat = store.list_page("l/", page_size=3, start_after="l/b/1")
    assert [o.key for o in flat.objects] == ["l/b/2", "l/c", "l/d/x/y"]
    rest = store.list_page("l/", page_size=3, start_after="l/b/1", token=flat.next_token)
    assert [o.key for o in rest.objects] == ["l/e"] and rest.next_token is None
    with pytest.raises(InvalidArgument):
        store.list_page("l/", token="not-a-token")


# -- copy ----------------------------------------------------------------------------------------------------
def test_copy_keeps_type_and_metadata(store: ObjectStore) -> None:
    src = store.put("src", b"payload", content_type="text/csv", metadata={"a": "1"})
    dst = store.copy("src", "dst")
    assert (dst.key, dst.size, dst.content_type, dict(dst.metadata)) == ("dst", 7, "text/csv", {"a": "1"})
    assert dst.checksums["md5"] == src.checksums["md5"]
    assert store.get("dst").read() == b"payload"
    with pytest.raises(AlreadyExists):
        store.copy("src", "dst", if_none_match="*")
    store.copy("src", "fresh", if_none_match="*")
    with pytest.raises(NotFound):
        store.copy("absent", "x")
    assert not store.exists("x")


# -- presign -------------------------------------------------------------------------------------------------
def test_presign_get_and_put_with_plain_http(store: ObjectStore) -> None:
    store.put("p.txt", b"signed")
    url = store.presign("p.txt", "GET", expires=120)
    assert "X-Goog-Signature=" in url and "X-Goog-Algorithm=GOOG4-RSA-SHA256" in url
    assert requests.get(url, timeout=30).content == b"signed"
    put = store.presign("up.txt", "PUT", expires=120, content_type="text/plain")
    response = requests.put(put, data=b"uploaded", headers={"Content-Type": "text/plain"}, timeout=30)
    assert response.status_code in (200, 201), response.text
    assert store.get("up.txt").read() == b"uploaded"
    assert store.head("up.txt").content_type == "text/plain"


def test_presign_needs_a_signing_key(rig_context: RigContext, endpoint: str) -> None:
    s = open_store(f"gs://{rig_context.unique()}", endpoint_url=endpoint, anonymous=True)
    with pytest.raises(Unsupported, match="service-account"):
        s.presign("k", "GET")
    with pytest.raises(InvalidArgument):
        open_store("gs://b", endpoint_url=endpoint, anonymous=True, signing_credentials="not-a-signer")


# -- options and environment ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, message",
    [
        ({"bogus": 1, "other": 2}, "bogus, other"),
        ({"part_size": 1000}, "part_size"),
        ({"part_size": 0}, "part_size"),
        ({"timeout": -1}, "timeout"),
        ({"anonymous": True, "credentials_file": "/x.json"}, "anonymous and credentials_file"),
        ({"credentials": "nope"}, "Credentials"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        open_store("gs://b", endpoint_url="http://127.0.0.1:9", **options)


def test_environment_variables_reach_the_emulator(
    emulator_env: dict[str, str], endpoint: str, rig_context: RigContext
) -> None:
    bucket = rig_context.unique()
    rig.create_bucket(endpoint, bucket)
    with open_store(f"gs://{bucket}") as s:  # STORAGE_EMULATOR_HOST + GOOGLE_CLOUD_PROJECT only
        assert s.url == f"gs://{bucket}"
        assert backend(s).client.project == "circle-test"
        s.put("env", b"ok")
        assert s.get("env").read() == b"ok"


# -- errors --------------------------------------------------------------------------------------------------
def test_missing_object_errors(store: ObjectStore) -> None:
    for call in (
        lambda: store.head("none"),
        lambda: store.get("none"),
        lambda: store.get("none", start=5),
        lambda: store.copy("none", "dst"),
        lambda: store.delete("none", if_match="e"),
    ):
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.provider == "gs" and err.value.key == "none"


def test_missing_bucket_errors(missing_bucket: ObjectStore) -> None:
    s = missing_bucket
    calls = {
        "head": lambda: s.head("k"),
        "get": lambda: s.get("k"),
        "put": lambda: s.put("k", b"x"),
        "put-resumable": lambda: s.put("k", stream(blob_data(PART * 2))),
        "delete": lambda: s.delete("k"),
        "list": lambda: s.list_page(),
        "copy": lambda: s.copy("a", "b"),
    }
    for name, call in calls.items():
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.bucket == backend(s).bucket, name


def test_connection_refused_is_transient_and_not_retried_by_the_sdk(rig_context: RigContext) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.0, sleep=sleeps.append)
    s = open_store("gs://b", endpoint_url=f"http://127.0.0.1:{free_port()}", anonymous=True, retry=policy, timeout=5)
    with pytest.raises(TransientError) as err:
        s.head("k")
    assert err.value.retryable and err.value.operation == "head"
    assert len(sleeps) == 2  # our policy retried; the SDK's own retry (minutes of backoff) is off


@pytest.mark.parametrize(
    "exc, expected",
    [
        (gexc.NotFound("x"), NotFound),
        (gexc.PreconditionFailed("x"), PreconditionFailed),
        (gexc.Forbidden("x"), PermissionDenied),
        (gexc.Forbidden("x", errors=[{"reason": "rateLimitExceeded"}]), Throttled),
        (gexc.Unauthorized("x"), Unauthenticated),
        (gexc.TooManyRequests("x"), Throttled),
        (gexc.ServiceUnavailable("x"), Throttled),
        (gexc.InternalServerError("x"), TransientError),
        (gexc.GatewayTimeout("x"), TransientError),
        (gexc.BadRequest("x"), InvalidArgument),
        (requests.exceptions.ConnectionError("reset"), TransientError),
        (requests.exceptions.ReadTimeout("slow"), TransientError),
        (urllib3.exceptions.ProtocolError("cut"), TransientError),
        (gauth_exc.RefreshError("bad grant"), Unauthenticated),
        (gauth_exc.DefaultCredentialsError("none"), Unauthenticated),
        (DataCorruption(None, "crc32c mismatch"), IntegrityError),
    ],
)
def test_error_mapping(exc: BaseException, expected: type[Exception], endpoint: str) -> None:
    b = GCSBackend("bkt", {"endpoint_url": endpoint, "anonymous": True})
    err = b.translate(exc, "head", "k")
    assert type(err) is expected
    assert (err.provider, err.bucket, err.key, err.operation) == ("gs", "bkt", "k", "head")


def test_bad_credentials_are_unauthenticated(rig_context: RigContext, endpoint: str, tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(rig.service_account_info(token_uri=f"{endpoint}/no-token-here")))
    s = rig.make(rig_context, credentials_file=str(key_file), retry=FAST)
    with pytest.raises(Unauthenticated):
        s.head("k")


# -- secrets -------------------------------------------------------------------------------------------------
def test_private_key_never_leaks(
    rig_context: RigContext, endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    info = rig.service_account_info(token_uri=f"{endpoint}/no-token-here", key_id="circle-secret-key-id-7f3a")
    body = info["private_key"].split("-----")[2].replace("\n", "")
    fragments = [body[100:140], body[-80:-40], info["private_key_id"]]
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(info))
    s = rig.make(rig_context, credentials_file=str(key_file), retry=FAST)
    texts = [repr(s), str(s.url), repr(backend(s)), backend(s).describe()]
    with pytest.raises(Unauthenticated) as err:
        s.put("k", b"x")
    texts += [str(err.value), repr(err.value), str(err.value.__cause__)]
    texts.append(s.presign("k", "GET", expires=60))  # signs locally with the key; carries only a signature
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                **info,
                "private_key": "-----BEGIN PRIVATE KEY-----\nCIRCLEDISTINCTIVESECRET"
                "0123456789abcdef\n-----END PRIVATE KEY-----\n",
            }
        )
    )
    with pytest.raises(Unauthenticated) as bad:
        open_store("gs://b", endpoint_url=endpoint, credentials_file=str(broken))
    fragments.append("CIRCLEDISTINCTIVESECRET")
    texts += [str(bad.value), repr(bad.value), caplog.text]
    for text in texts:
        for fragment in fragments:
            assert fragment not in text
