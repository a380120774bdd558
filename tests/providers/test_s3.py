"""The S3 provider against the moto server: every operation, its conditions and its error paths."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from core.storage import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ObjectStore,
    PermissionDenied,
    PreconditionFailed,
    RetryPolicy,
    TransientError,
    Unauthenticated,
    open_store,
)
from core.storage.providers.s3 import S3Backend
from scripts.emulators import free_port
from tests.rigs import RigContext
from tests.rigs import s3 as rig

pytestmark = pytest.mark.emulator
MiB = 1024 * 1024
FAST = RetryPolicy(max_attempts=1)


@pytest.fixture
def store(rig_context: RigContext) -> Iterator[ObjectStore]:
    s = rig.make(rig_context, part_size=5 * MiB, multipart_threshold=5 * MiB)
    yield s
    s.close()


def backend(store: ObjectStore) -> S3Backend:
    b = store._backend
    assert isinstance(b, S3Backend)
    return b


def admin(rig_context: RigContext) -> Any:
    return rig.admin_client(rig_context.emulators().s3_endpoint)


def sent_requests(store: ObjectStore) -> list[Any]:
    """Record every HTTP request the store's client puts on the wire (after signing)."""
    seen: list[Any] = []
    backend(store).client.meta.events.register("before-send.s3", lambda request, **_: seen.append(request))
    return seen


@pytest.mark.parametrize("concurrency", [1, 3])
def test_multipart_parts_go_up_concurrency_at_a_time(rig_context: RigContext, concurrency: int) -> None:
    """Parts in flight are ``concurrency`` (a barrier of that many, in botocore's before-send hook, only
    opens when that many parts are on their way at once) and never more."""
    s = rig.make(rig_context, part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=concurrency)
    events = backend(s).client.meta.events
    together = threading.Barrier(concurrency, timeout=20)
    lock = threading.Lock()
    in_flight, peak = 0, 0

    def sending(**_: Any) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        together.wait()

    def answered(**_: Any) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    events.register("before-send.s3.UploadPart", sending)
    events.register("after-call.s3.UploadPart", answered)
    data = b"".join(bytes([i]) * (5 * MiB) for i in range(2 * concurrency))  # two rounds of full parts
    s.put("big.bin", iter([data[i : i + MiB] for i in range(0, len(data), MiB)]))
    assert peak == concurrency
    assert s.get("big.bin").read() == data
    s.close()


# -- reads and metadata ---------------------------------------------------------------------------------
def test_put_head_get_round_trip_fields(store: ObjectStore) -> None:
    info = store.put("a.txt", b"hello", content_type="text/plain", metadata={"Owner": "me", "x_y": "1"})
    assert info.etag == "5d41402abc4b2a76b9719d911017c592"  # unquoted MD5
    assert info.checksums["md5"] == info.etag
    assert info.checksums["crc32"] == "NhCmhg=="  # boto3 sent CRC32 on the aws profile; moto kept it
    assert info.version is not None
    head = store.head("a.txt")
    assert (head.size, head.etag, head.content_type, head.version) == (5, info.etag, "text/plain", info.version)
    assert dict(head.metadata) == {"owner": "me", "x_y": "1"}
    assert head.last_modified is not None and head.last_modified.tzinfo == UTC
    with store.get("a.txt") as reader:
        assert reader.read() == b"hello"
        assert reader.info.etag == info.etag and reader.info.size == 5
        assert dict(reader.info.metadata) == {"owner": "me", "x_y": "1"}


def test_default_content_type(store: ObjectStore) -> None:
    store.put("bin", b"\x00\x01")
    assert store.head("bin").content_type == "application/octet-stream"


def test_empty_object(store: ObjectStore) -> None:
    store.put("empty", b"")
    assert store.head("empty").size == 0
    assert store.get("empty").read() == b""


KEYS = [
    "with space",
    "plus+sign",
    "per%25cent",
    "hash#tag",
    "q?uery=1&b",
    "ünï/cødé/日本",
    "deep/" * 50 + "x",
    "a//double",
    "trailing/",
    "k" * 1024,
    "~tilde!*'()",
    "semi;colon:at@",
]


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k[:20])
def test_keys_round_trip(store: ObjectStore, key: str) -> None:
    store.put(key, key.encode())
    assert store.get(key).read() == key.encode()
    assert store.head(key).size == len(key.encode())
    assert [o.key for o in store.list() if not hasattr(o, "prefix")] == [key]  # type: ignore[union-attr]


def test_ranges(store: ObjectStore) -> None:
    store.put("r", b"0123456789")
    reader = store.get("r", start=2, end=5)
    assert reader.read() == b"234"
    assert reader.info.size == 10  # the object's size, from Content-Range
    assert store.get("r", start=-3).read() == b"789"
    assert store.get("r", start=7).read() == b"789"
    past = store.get("r", start=50)
    assert past.read() == b"" and past.info.size == 10


def test_get_streams_in_chunks(store: ObjectStore) -> None:
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    store.put("s", data)
    chunks = list(store.get("s"))
    assert len(chunks) >= 3 and b"".join(chunks) == data


def test_get_if_match(store: ObjectStore) -> None:
    info = store.put("g", b"v1")
    assert info.etag is not None
    assert store.get("g", if_match=info.etag).read() == b"v1"
    with pytest.raises(PreconditionFailed) as err:
        store.get("g", if_match="0" * 32)
    assert err.value.status == 412 and err.value.key == "g"


# -- conditional writes ---------------------------------------------------------------------------------
def test_create_only_single(store: ObjectStore) -> None:
    store.put("c", b"first", if_none_match="*")
    with pytest.raises(AlreadyExists) as err:
        store.put("c", b"second", if_none_match="*")
    assert (err.value.status, err.value.operation, err.value.bucket, err.value.key) == (
        412,
        "put",
        backend(store).bucket,
        "c",
    )
    assert store.get("c").read() == b"first"


def test_create_only_is_sent_as_if_none_match(store: ObjectStore) -> None:
    seen = sent_requests(store)
    store.put("h", b"x", if_none_match="*")
    assert seen[-1].headers["If-None-Match"] == b"*"


def test_create_only_multipart(store: ObjectStore, rig_context: RigContext) -> None:
    store.put("m", b"old")
    with pytest.raises(AlreadyExists):
        store.put("m", iter([b"a" * (3 * MiB)] * 3), if_none_match="*")
    assert store.get("m").read() == b"old"
    assert not admin(rig_context).list_multipart_uploads(Bucket=backend(store).bucket).get("Uploads")


def test_compare_and_swap_single(store: ObjectStore) -> None:
    v1 = store.put("cas", b"v1")
    assert v1.etag is not None
    v2 = store.put("cas", b"v2", if_match=v1.etag)
    with pytest.raises(PreconditionFailed) as err:
        store.put("cas", b"v3", if_match=v1.etag)
    assert err.value.status == 412
    assert store.get("cas").read() == b"v2" and store.head("cas").etag == v2.etag
    with pytest.raises(NotFound):
        store.put("missing", b"x", if_match=v1.etag)
    assert not store.exists("missing")


@pytest.mark.xfail(strict=True, reason="moto 5.2 ignores If-Match on CompleteMultipartUpload (AWS enforces it)")
def test_compare_and_swap_multipart(store: ObjectStore, rig_context: RigContext) -> None:
    store.put("casm", b"v1")
    with pytest.raises(PreconditionFailed):
        store.put("casm", iter([b"a" * (3 * MiB)] * 3), if_match="0" * 32)
    assert store.get("casm").read() == b"v1"


def test_compare_and_swap_multipart_success(store: ObjectStore) -> None:
    v1 = store.put("casok", b"v1")
    assert v1.etag is not None
    info = store.put("casok", iter([b"a" * (3 * MiB)] * 3), if_match=v1.etag)
    assert info.size == 9 * MiB and store.head("casok").etag == info.etag


# -- multipart ------------------------------------------------------------------------------------------
def test_multipart_for_unknown_length(store: ObjectStore) -> None:
    seen = sent_requests(store)
    data = [bytes([i]) * (2 * MiB) for i in range(6)]  # 12 MiB in 2 MiB chunks -> parts of 5, 5, 2 MiB
    info = store.put("big", iter(data), content_type="application/x-test", metadata={"k": "v"})
    assert info.size == 12 * MiB
    assert info.etag is not None and info.etag.endswith("-3")
    assert "md5" not in info.checksums  # a multipart ETag is not an MD5
    assert sum(1 for r in seen if "partNumber=" in r.url) == 3
    head = store.head("big")
    assert (head.size, head.etag, head.content_type, dict(head.metadata)) == (
        12 * MiB,
        info.etag,
        "application/x-test",
        {"k": "v"},
    )
    assert "md5" not in head.checksums
    assert store.get("big").read() == b"".join(data)


def test_small_iterable_is_one_request(store: ObjectStore) -> None:
    seen = sent_requests(store)
    store.put("small", iter([b"ab", b"cd"]))
    assert len(seen) == 1 and seen[0].method == "PUT" and "uploadId" not in seen[0].url
    assert store.get("small").read() == b"abcd"


def test_failed_stream_aborts_multipart(store: ObjectStore, rig_context: RigContext) -> None:
    def body() -> Iterator[bytes]:
        yield b"x" * (6 * MiB)  # one full part gets uploaded first
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        store.put("broken", body())
    assert not store.exists("broken")
    assert not admin(rig_context).list_multipart_uploads(Bucket=backend(store).bucket).get("Uploads")


# -- delete ---------------------------------------------------------------------------------------------
def test_delete_and_conditional_delete(store: ObjectStore) -> None:
    store.delete("never-was")  # a missing key is fine
    info = store.put("d", b"x")
    assert info.etag is not None
    with pytest.raises(PreconditionFailed) as err:
        store.delete("d", if_match="0" * 32)
    assert err.value.status == 412 and store.exists("d")
    with pytest.raises(NotFound):
        store.delete("never-was", if_match=info.etag)
    store.delete("d", if_match=info.etag)
    assert not store.exists("d")


def test_delete_many_batches_of_1000(store: ObjectStore) -> None:
    for k in ("k0", "k500", "k1000"):
        store.put(k, b"x")
    seen = sent_requests(store)
    failures = store.delete_many([f"k{i}" for i in range(1001)])  # missing keys are not failures
    assert failures == []
    assert [r.url.endswith("?delete") for r in seen] == [True, True]
    assert not any(store.exists(k) for k in ("k0", "k500", "k1000"))


def test_delete_failures_are_typed(store: ObjectStore) -> None:
    resp = {
        "Errors": [
            {"Key": "a", "Code": "AccessDenied", "Message": "Access Denied"},
            {"Key": "b", "Code": "NoSuchKey", "Message": "gone"},
            {"Key": "c", "Code": "InternalError", "Message": "oops"},
            {"Key": "d", "Code": "Weird", "Message": "?"},
        ]
    }
    failures = backend(store).delete_failures(resp)
    assert [(f.key, type(f.error).__name__) for f in failures] == [
        ("a", "PermissionDenied"),
        ("c", "TransientError"),
        ("d", "StorageError"),
    ]
    assert failures[0].error.operation == "delete_many" and failures[0].error.key == "a"


# -- copy, list, presign --------------------------------------------------------------------------------
def test_copy_keeps_type_and_metadata(store: ObjectStore) -> None:
    store.put("src", b"data", content_type="text/csv", metadata={"a": "1"})
    info = store.copy("src", "dst")
    assert (info.key, info.size, info.content_type, dict(info.metadata)) == ("dst", 4, "text/csv", {"a": "1"})
    assert store.get("dst").read() == b"data"


def test_copy_create_only_on_new_key(store: ObjectStore) -> None:
    store.put("src", b"data")
    assert store.copy("src", "fresh", if_none_match="*").size == 4


@pytest.mark.xfail(strict=True, reason="moto 5.2 ignores If-None-Match on CopyObject (AWS enforces it)")
def test_copy_create_only_existing(store: ObjectStore) -> None:
    store.put("src", b"new")
    store.put("dst", b"old")
    with pytest.raises(AlreadyExists):
        store.copy("src", "dst", if_none_match="*")
    assert store.get("dst").read() == b"old"


def test_listing_pages_delimiter_start_after(store: ObjectStore) -> None:
    for k in ["a/1", "a/2", "b", "c/x/y", "d"]:
        store.put(k, b"z")
    page = store.list_page(page_size=2)
    assert [o.key for o in page.objects] == ["a/1", "a/2"] and page.next_token
    rest = store.list_page(page_size=10, token=page.next_token)
    assert [o.key for o in rest.objects] == ["b", "c/x/y", "d"] and rest.next_token is None
    top = store.list_page(delimiter="/")
    assert [p.prefix for p in top.prefixes] == ["a/", "c/"] and [o.key for o in top.objects] == ["b", "d"]
    assert [o.key for o in store.list(start_after="b")] == ["c/x/y", "d"]  # type: ignore[union-attr]
    assert all(o.checksums.get("md5") == o.etag for o in page.objects)


def test_prefix_scoped_store(rig_context: RigContext) -> None:
    s = rig.make(rig_context)
    scoped = open_store(
        f"s3://{backend(s).bucket}/team/a",
        endpoint_url=rig_context.emulators().s3_endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    scoped.put("x", b"1")
    assert s.exists("team/a/x") and [o.key for o in scoped.list()] == ["x"]  # type: ignore[union-attr]
    assert scoped.url == f"s3://{backend(s).bucket}/team/a"


def test_presign_get_and_put(store: ObjectStore) -> None:
    store.put("p", b"presigned")
    url = store.presign("p", "GET", 300)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    assert requests.get(url, timeout=10).content == b"presigned"
    put_url = store.presign("up", "PUT", 300, content_type="text/plain")
    resp = requests.put(put_url, data=b"uploaded", headers={"Content-Type": "text/plain"}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert store.get("up").read() == b"uploaded" and store.head("up").content_type == "text/plain"


# -- options and environment ----------------------------------------------------------------------------
def test_client_configuration(store: ObjectStore) -> None:
    config = backend(store).client.meta.config
    assert config.retries["total_max_attempts"] == 1
    assert config.signature_version == "s3v4"
    assert config.request_checksum_calculation == "when_supported"
    assert (config.connect_timeout, config.read_timeout, config.max_pool_connections) == (10.0, 60.0, 20)
    assert store.url == f"s3://{backend(store).bucket}"


def test_bad_options_are_typed(rig_context: RigContext) -> None:
    with pytest.raises(InvalidArgument, match="bogus"):
        open_store("s3://bucket", bogus=1)
    with pytest.raises(InvalidArgument, match="part_size"):
        open_store("s3://bucket", part_size=1024)
    with pytest.raises(InvalidArgument, match="together"):
        open_store("s3://bucket", access_key_id="AKIA")
    with pytest.raises(InvalidArgument, match="unknown S3 profile"):
        open_store("s3://bucket", profile="nope")
    with pytest.raises(InvalidArgument, match="AWS profile"):
        open_store("s3://bucket", aws_profile="circle-no-such-profile")


def test_environment_variables(emulator_env: dict[str, str], rig_context: RigContext) -> None:
    bucket = rig.make(rig_context).url.removeprefix("s3://")
    s = open_store(f"s3://{bucket}")  # endpoint, region and keys all from AWS_* variables
    s.put("env", b"ok")
    assert s.get("env").read() == b"ok"
    assert backend(s).client.meta.region_name == "us-east-1"


def test_no_secret_in_repr_errors_or_logs(rig_context: RigContext, caplog: pytest.LogCaptureFixture) -> None:
    secret = "Zq9SUPERSECRETxyzzy0000000000000000000000"
    caplog.set_level(logging.DEBUG)
    s = open_store(
        "s3://no-such-bucket-for-secrets",
        endpoint_url=rig_context.emulators().s3_endpoint,
        region="us-east-1",
        access_key_id="AKIATESTTESTTEST",
        secret_access_key=secret,
        session_token="TOKENsecret123",
        retry=FAST,
    )
    with pytest.raises(NotFound) as err:
        s.head("k")
    url = s.presign("k", "GET", 60)
    texts = [repr(s), str(s.url), str(err.value), repr(err.value), caplog.text, repr(backend(s))]
    assert not any(secret in t for t in texts)
    assert secret not in url and "TOKENsecret123" not in str(err.value)


# -- error paths ----------------------------------------------------------------------------------------
@pytest.fixture
def nobucket(rig_context: RigContext) -> ObjectStore:
    return open_store(
        "s3://circle-missing-bucket",
        endpoint_url=rig_context.emulators().s3_endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        retry=FAST,
    )


MISSING_BUCKET_OPS = {
    "head": lambda s: s.head("k"),
    "get": lambda s: s.get("k"),
    "put": lambda s: s.put("k", b"x"),
    "put_multipart": lambda s: s.put("k", iter([b"x" * (9 * MiB)])),
    "delete": lambda s: s.delete("k"),
    "delete_many": lambda s: s.delete_many(["k"]),
    "list": lambda s: s.list_page(),
    "copy": lambda s: s.copy("k", "k2"),
}


@pytest.mark.parametrize("op", sorted(MISSING_BUCKET_OPS))
def test_missing_bucket(nobucket: ObjectStore, op: str) -> None:
    with pytest.raises(NotFound) as err:
        MISSING_BUCKET_OPS[op](nobucket)
    e = err.value
    assert (e.provider, e.bucket, e.status) == ("s3", "circle-missing-bucket", 404)
    assert e.operation == {"put_multipart": "put"}.get(op, op)
    assert isinstance(e, FileNotFoundError)
    if op != "head":  # moto's HEAD 404 has no body (no code) and no request id
        assert "NoSuchBucket" in str(e)
        assert e.request_id and e.request_id in str(e)


MISSING_KEY_OPS = {
    "head": lambda s: s.head("nope"),
    "get": lambda s: s.get("nope"),
    "get_range": lambda s: s.get("nope", start=1, end=2),
    "copy": lambda s: s.copy("nope", "dst"),
    "cas_put": lambda s: s.put("nope", b"x", if_match="0" * 32),
    "cas_delete": lambda s: s.delete("nope", if_match="0" * 32),
}


@pytest.mark.parametrize("op", sorted(MISSING_KEY_OPS))
def test_missing_key(store: ObjectStore, op: str) -> None:
    with pytest.raises(NotFound) as err:
        MISSING_KEY_OPS[op](store)
    assert err.value.status == 404 and err.value.bucket == backend(store).bucket
    assert err.value.key in ("nope", "dst")


def test_connection_refused_is_transient_and_sdk_does_not_retry(rig_context: RigContext) -> None:
    sleeps: list[float] = []
    s = open_store(
        "s3://bucket",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        retry=RetryPolicy(max_attempts=3, initial_backoff=0.001, sleep=sleeps.append),
    )
    seen = sent_requests(s)
    with pytest.raises(TransientError) as err:
        s.head("k")
    assert err.value.retryable and err.value.operation == "head"
    assert len(seen) == 3 and len(sleeps) == 2  # our policy retried; botocore made one attempt each


@contextmanager
def moto_auth(rig_context: RigContext) -> Iterator[dict[str, str]]:
    """Switch moto's IAM authentication on (after creating one user without any policy), then off."""
    endpoint = rig_context.emulators().s3_endpoint
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"2", timeout=10).raise_for_status()
    try:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        user = f"u{rig_context.unique()}"[:60]
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        yield {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def test_credentials_errors(rig_context: RigContext) -> None:
    bucket = rig.make(rig_context).url.removeprefix("s3://")
    endpoint = rig_context.emulators().s3_endpoint

    def opened(**creds: str) -> ObjectStore:
        return open_store(f"s3://{bucket}", endpoint_url=endpoint, region="us-east-1", retry=FAST, **creds)

    with moto_auth(rig_context) as creds:  # after the bucket exists: moto now checks every request
        for bad in (
            {"access_key_id": "AKIAUNKNOWNKEY000000", "secret_access_key": "x"},
            {"access_key_id": creds["access_key_id"], "secret_access_key": "wrong-secret"},
        ):
            with pytest.raises(Unauthenticated) as err:
                opened(**bad).list_page()
            assert err.value.status == 403 and err.value.operation == "list" and err.value.bucket == bucket
            with pytest.raises(Unauthenticated):
                opened(**bad).put("k", b"x")
        with pytest.raises(PermissionDenied) as denied:
            opened(**creds).get("k")
        assert denied.value.status == 403 and "AccessDenied" in str(denied.value)
        assert not isinstance(denied.value, Unauthenticated)


def test_error_messages_name_the_code(store: ObjectStore) -> None:
    with pytest.raises(NotFound) as err:
        store.get("nope")
    assert re.search(r"get s3://t-[0-9a-f]+/nope: NoSuchKey", str(err.value))


# -- SSE-KMS --------------------------------------------------------------------------------------------
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_sse_kms_key_encrypts_every_write(rig_context: RigContext) -> None:
    kms = rig.make(rig_context, sse_kms_key_id=KMS_KEY, part_size=5 * MiB, multipart_threshold=5 * MiB)
    try:
        bucket = backend(kms).bucket
        kms.put("single", b"hello")
        kms.put("multi", iter([b"x" * (3 * MiB), b"y" * (3 * MiB)]))  # unknown length over the threshold
        kms.copy("single", "copied")
        for key in ("single", "multi", "copied"):
            head = admin(rig_context).head_object(Bucket=bucket, Key=key)
            assert (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) == ("aws:kms", KMS_KEY), key
        # An SSE-KMS object's ETag is not its MD5 (on S3; moto keeps the MD5): claiming one would fail
        # every verified copy into the store.
        assert not kms.capabilities.etag_is_md5 and "md5" not in kms.capabilities.checksums
        assert "md5" not in kms.head("single").checksums
        assert kms.get("single").read() == b"hello"
    finally:
        kms.close()


def test_without_the_option_writes_send_no_encryption(store: ObjectStore, rig_context: RigContext) -> None:
    seen = sent_requests(store)
    store.put("plain", b"hello")
    assert "x-amz-server-side-encryption" not in {k.lower() for k in seen[0].headers}
    head = admin(rig_context).head_object(Bucket=backend(store).bucket, Key="plain")
    assert "SSEKMSKeyId" not in head and store.head("plain").checksums["md5"] == head["ETag"].strip('"')


def test_bucket_default_kms_encryption_drops_the_etag_md5(store: ObjectStore, rig_context: RigContext) -> None:
    admin(rig_context).put_bucket_encryption(
        Bucket=backend(store).bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}}]
        },
    )
    info = store.put("by-default", b"hello")
    assert "md5" not in info.checksums and "md5" not in store.head("by-default").checksums


def test_sse_kms_key_id_is_checked(rig_context: RigContext) -> None:
    with pytest.raises(InvalidArgument, match="sse_kms_key_id: expected a KMS key ARN"):
        rig.make(rig_context, sse_kms_key_id="not a key")
    with pytest.raises(InvalidArgument, match="sse_kms_key_id: expected a string"):
        rig.make(rig_context, sse_kms_key_id=7)


def test_expect_continue_only_for_large_bodies(store: ObjectStore) -> None:
    """A small PutObject goes out without ``Expect: 100-continue`` (no round trip for the interim
    answer); a 5 MiB upload part still asks for it, so a refused request never sends the part; the
    1-byte last part does not."""
    sent = sent_requests(store)
    store.put("small.txt", b"a few bytes")
    store.put("big.bin", iter([b"p" * (5 * MiB), b"q" * (5 * MiB + 1)]))
    assert store.get("small.txt").read() == b"a few bytes" and store.head("big.bin").size == 10 * MiB + 1
    puts = [r for r in sent if r.method == "PUT"]
    assert "uploadId=" not in puts[0].url and puts[0].headers.get("Expect") is None
    parts = {parse_qs(urlsplit(r.url).query)["partNumber"][0]: r.headers.get("Expect") for r in puts[1:]}
    assert parts == {"1": b"100-continue", "2": b"100-continue", "3": None}  # 5 MiB, 5 MiB, 1 byte (in any order)


# -- a body cut short --------------------------------------------------------------------------------------
def test_a_body_cut_mid_stream_is_resumed_where_it_stopped(rig_context: RigContext) -> None:
    """The GET's connection closes part-way: the read asks for the rest from that byte, pinned with
    If-Match to the ETag it was reading, and returns every byte once; cut again and again, it fails as
    a transient error instead of returning a short body."""
    from core.storage.providers._common import RESUMES
    from tests.fakes.fault_proxy import FaultProxy, cut

    data = bytes(range(256)) * (3 * 4096 + 7)  # about 3 MiB
    with FaultProxy(rig_context.emulators().s3_endpoint) as proxy:
        store = rig.make(rig_context, via=proxy.url, retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))
        etag = store.put("cut", data).etag
        for start, end in ((None, None), (1000, None), (-(2 * 1024 * 1024), None)):
            proxy.clear()
            proxy.inject(cut(700_000), times=1, method="GET")
            wanted = data[start:end] if start is not None else data
            assert store.get("cut", start=start, end=end).read() == wanted, start
            gets = [s for s in proxy.requests if s.method == "GET"]
            assert len(gets) == 2, start
            first_byte = 0 if start is None else start if start >= 0 else len(data) + start
            assert gets[1].headers["range"] == f"bytes={first_byte + 700_000}-{len(data) - 1}"
            assert gets[1].headers["if-match"].strip('"') == etag

        proxy.clear()
        proxy.inject(cut(1000), times=None, method="GET")
        with pytest.raises(TransientError):
            store.get("cut").read()
        assert proxy.count(method="GET") == 1 + RESUMES
