"""S3-compatible provider profiles: the client each one builds, the headers it really sends, and a
representative part of the behaviour suite against moto with each profile's settings.

moto stands in for every provider (endpoint_url overridden). Where loopback cannot express a setting,
the built client's configuration is checked instead, or (virtual-hosted addressing) a small forward
proxy carries requests for ``<bucket>.<fake-domain>`` to moto.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
from base64 import b64encode
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from core.storage import (
    AlreadyExists,
    CommonPrefix,
    InvalidArgument,
    ObjectStore,
    PreconditionFailed,
    Unsupported,
    open_store,
)
from core.storage.providers.s3 import S3Backend
from core.storage.providers.s3_profiles import PROFILES, profiles_table
from tests.rigs import RigContext
from tests.rigs import s3 as rig

MiB = 1024 * 1024
DOCS = Path(__file__).resolve().parents[2] / "docs" / "storage" / "s3.md"

EXPECTED_ENDPOINTS = {
    "aws": "https://s3.eu-west-1.amazonaws.com",
    "digitalocean": "https://nyc3.digitaloceanspaces.com",
    "oci": "https://acme.compat.objectstorage.us-ashburn-1.oci.customer-oci.com",
    "ibm": "https://s3.us-south.cloud-object-storage.appdomain.cloud",
    "alibaba": "https://oss-cn-hangzhou.aliyuncs.com",
    "tencent": "https://cos.ap-guangzhou.myqcloud.com",
}
REGIONS = {
    "aws": "eu-west-1",
    "digitalocean": "nyc3",
    "oci": "us-ashburn-1",
    "ibm": "us-south",
    "alibaba": "cn-hangzhou",
    "tencent": "ap-guangzhou",
}
ADDRESSING = {
    "aws": "virtual",
    "digitalocean": "virtual",
    "oci": "path",
    "ibm": "virtual",
    "alibaba": "virtual",
    "tencent": "virtual",
}
CREATE_ONLY = {
    "aws": ("If-None-Match", "*"),
    "alibaba": ("x-oss-forbid-overwrite", "true"),
    "tencent": ("x-cos-forbid-overwrite", "true"),
}


def test_profiles_cover_the_brief() -> None:
    assert set(PROFILES) == set(EXPECTED_ENDPOINTS)


def backend(store: ObjectStore) -> S3Backend:
    b = store._backend
    assert isinstance(b, S3Backend)
    return b


def offline(profile: str, bucket: str = "photos-1250000000", **options: Any) -> ObjectStore:
    """A store built for the real provider (no request is made)."""
    extra: dict[str, Any] = {"namespace": "acme"} if profile == "oci" else {}
    return open_store(
        f"s3://{bucket}",
        profile=profile,
        region=REGIONS[profile],
        access_key_id="AKIAX",
        secret_access_key="not-used",
        **extra,
        **options,
    )


def sent(store: ObjectStore) -> list[Any]:
    """Every request the store's client puts on the wire (after signing), via a botocore event."""
    seen: list[Any] = []
    backend(store).client.meta.events.register("before-send.s3", lambda request, **_: seen.append(request))
    return seen


def header(request: Any, name: str) -> str | None:
    value = request.headers.get(name)
    return value.decode() if isinstance(value, bytes) else value


# -- the client each profile builds ---------------------------------------------------------------------
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_client_configuration(profile: str) -> None:
    store = offline(profile)
    client = backend(store).client
    config = client.meta.config
    assert client.meta.endpoint_url == EXPECTED_ENDPOINTS[profile]
    assert client.meta.region_name == REGIONS[profile]
    assert config.s3["addressing_style"] == ADDRESSING[profile]
    mode = "when_supported" if profile == "aws" else "when_required"
    assert (config.request_checksum_calculation, config.response_checksum_validation) == (mode, mode)
    assert config.retries["total_max_attempts"] == 1 and config.signature_version == "s3v4"
    caps = store.capabilities
    assert caps.write_with_if_none_match == (profile in CREATE_ONLY)
    assert caps.write_multi_min_size == PROFILES[profile].min_part_size
    assert caps.etag_is_md5 == (profile != "oci")
    assert backend(store).part_size >= caps.write_multi_min_size


def test_oci_part_size_and_older_domain() -> None:
    store = offline("oci")
    assert backend(store).part_size == 10 * MiB  # OCI's minimum part, above the 8 MiB default
    with pytest.raises(InvalidArgument, match="part_size"):
        offline("oci", part_size=8 * MiB)
    old = offline("oci", endpoint_url="https://acme.compat.objectstorage.us-ashburn-1.oraclecloud.com")
    assert backend(old).client.meta.endpoint_url.endswith(".oraclecloud.com")


def test_profile_input_errors() -> None:
    with pytest.raises(InvalidArgument, match="namespace"):
        open_store("s3://b", profile="oci", region="us-ashburn-1")
    with pytest.raises(InvalidArgument, match="region"):
        open_store("s3://b", profile="digitalocean")
    with pytest.raises(InvalidArgument, match="APPID"):
        open_store("s3://photos", profile="tencent", region="ap-guangzhou")
    with pytest.raises(InvalidArgument, match="unknown S3 profile"):
        open_store("s3://b", profile="minio-typo")


def test_aws_cli_profile_is_separate_option() -> None:
    with pytest.raises(InvalidArgument, match="AWS profile not found"):
        open_store("s3://b", profile="aws", aws_profile="circle-no-such-cli-profile")


# -- what goes on the wire, per profile (real requests to moto) -----------------------------------------
@pytest.fixture(params=sorted(PROFILES))
def pstore(request: pytest.FixtureRequest, rig_context: RigContext) -> Iterator[tuple[str, ObjectStore]]:
    profile = str(request.param)
    store = rig.make(rig_context, profile=profile)
    yield profile, store
    store.close()


def test_create_only_header_is_sent(pstore: tuple[str, ObjectStore]) -> None:
    profile, store = pstore
    seen = sent(store)
    if profile not in CREATE_ONLY:
        with pytest.raises(Unsupported):
            store.put("c", b"x", if_none_match="*")
        assert seen == [] and not store.exists("c")
        return
    name, value = CREATE_ONLY[profile]
    store.put("c", b"x", if_none_match="*")
    store.put("m", iter([b"y" * (6 * MiB)]), if_none_match="*")  # CompleteMultipartUpload
    store.copy("c", "c2", if_none_match="*")  # CopyObject
    puts = [r for r in seen if r.method in ("PUT", "POST") and "partNumber=" not in r.url and "uploads" not in r.url]
    assert len(puts) == 3
    for request in puts:
        assert header(request, name) == value, request.url
        if name != "If-None-Match":
            assert header(request, "If-None-Match") is None  # rewritten, not sent twice
    plain = sent(store)
    store.put("c3", b"x")
    assert header(plain[-1], name) is None


def test_checksum_headers(pstore: tuple[str, ObjectStore]) -> None:
    profile, store = pstore
    seen = sent(store)
    store.put("k1", b"hello")
    amz = [h for h in seen[-1].headers if h.lower().startswith("x-amz-checksum-")]
    assert amz == (["x-amz-checksum-crc32"] if profile == "aws" else [])
    store.put("k2", b"x")
    assert store.delete_many(["k1", "k2", "missing"]) == []
    delete = seen[-1]
    assert delete.url.endswith("?delete")
    amz = [h for h in delete.headers if h.lower().startswith("x-amz-checksum-")]
    if profile == "aws":
        assert amz == ["x-amz-checksum-crc32"]
    else:
        assert amz == []
        assert header(delete, "Content-MD5") == b64encode(hashlib.md5(delete.body).digest()).decode()
    assert not store.exists("k1") and not store.exists("k2")


def test_list_version(pstore: tuple[str, ObjectStore]) -> None:
    profile, store = pstore
    for k in ("a", "b", "c"):
        store.put(k, b"1")
    seen = sent(store)
    keys = [o.key for o in store.list() if not isinstance(o, CommonPrefix)]
    assert keys == ["a", "b", "c"]
    v2 = "list-type=2" in seen[-1].url
    assert v2 == (PROFILES[profile].list_version == 2)
    page = store.list_page(page_size=2)
    rest = store.list_page(page_size=2, token=page.next_token)
    assert [o.key for o in page.objects + rest.objects] == ["a", "b", "c"] and rest.next_token is None
    assert [o.key for o in store.list(start_after="a")] == ["b", "c"]  # type: ignore[union-attr]


# -- a representative part of the behaviour suite, once per profile -------------------------------------
def test_behaviour(pstore: tuple[str, ObjectStore]) -> None:
    profile, store = pstore
    info = store.put("dir/obj", b"0123456789", content_type="text/plain", metadata={"m": "1"})
    head = store.head("dir/obj")
    assert (head.size, head.etag, head.content_type, dict(head.metadata)) == (10, info.etag, "text/plain", {"m": "1"})
    assert ("md5" in head.checksums) == PROFILES[profile].etag_is_md5
    assert store.get("dir/obj", start=3, end=6).read() == b"345"
    assert store.get("dir/obj", start=99).read() == b""
    assert head.etag is not None
    with pytest.raises(PreconditionFailed):
        store.get("dir/obj", if_match="0" * 32)
    assert requests.get(store.presign("dir/obj"), timeout=10).content == b"0123456789"
    assert store.copy("dir/obj", "dir/copy").content_type == "text/plain"
    caps = store.capabilities
    if caps.write_with_if_match:
        with pytest.raises(PreconditionFailed):
            store.put("dir/obj", b"new", if_match="0" * 32)
        store.put("dir/obj", b"new", if_match=head.etag)
    else:
        with pytest.raises(Unsupported):
            store.put("dir/obj", b"new", if_match=head.etag)
    if caps.delete_with_if_match:
        with pytest.raises(PreconditionFailed):
            store.delete("dir/copy", if_match="0" * 32)
    else:
        with pytest.raises(Unsupported):
            store.delete("dir/copy", if_match="0" * 32)
    assert store.exists("dir/copy")
    store.delete("dir/copy")
    assert not store.exists("dir/copy")


def test_multipart(pstore: tuple[str, ObjectStore], rig_context: RigContext) -> None:
    _, store = pstore
    part = backend(store).part_size
    data = bytes(range(256)) * (part * 9 // 4 // 256)  # 2.25 parts
    info = store.put("mp", iter([data[i : i + MiB] for i in range(0, len(data), MiB)]))
    assert info.size == len(data) and info.etag is not None and info.etag.endswith("-3")
    assert store.get("mp").read() == data
    assert (
        not rig.admin_client(rig_context.emulators().s3_endpoint)
        .list_multipart_uploads(Bucket=backend(store).bucket)
        .get("Uploads")
    )


def _gap(profile: str, gap: str) -> Any:
    reason = rig.emulator_gaps(profile).get(gap)
    return pytest.param(profile, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else profile


@pytest.mark.parametrize("profile", [_gap(p, "write_with_if_none_match") for p in sorted(CREATE_ONLY)])
def test_create_only_is_enforced(profile: str, rig_context: RigContext) -> None:
    store = rig.make(rig_context, profile=profile)
    store.put("c", b"first")
    with pytest.raises(AlreadyExists):
        store.put("c", b"second", if_none_match="*")
    assert store.get("c").read() == b"first"


@pytest.mark.parametrize("profile", [_gap("tencent", "list_v1_delimiter_page_size")])
def test_v1_delimiter_pages_count_prefixes(profile: str, rig_context: RigContext) -> None:
    store = rig.make(rig_context, profile=profile)
    for k in ("a/1", "b/1", "c", "d/1"):
        store.put(k, b"1")
    page = store.list_page(delimiter="/", page_size=2)
    assert len(page.objects) + len(page.prefixes) == 2 and page.next_token


# -- virtual-hosted addressing end to end ---------------------------------------------------------------
class _Forwarder(BaseHTTPRequestHandler):
    """A forward HTTP proxy that sends every request to moto, keeping the client's Host header."""

    upstream: tuple[str, int]
    hosts: list[str]

    def _forward(self) -> None:
        url = urlsplit(self.path)
        self.hosts.append(self.headers["Host"])
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def forward_proxy(rig_context: RigContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Route the SDK's http traffic through a loopback forward proxy (via HTTP_PROXY) to moto."""
    endpoint = urlsplit(rig_context.emulators().s3_endpoint)
    hosts: list[str] = []
    handler = type("Forwarder", (_Forwarder,), {"upstream": (endpoint.hostname, endpoint.port), "hosts": hosts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for var in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield hosts
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("profile", ["alibaba", "tencent"])
def test_virtual_hosted_addressing_end_to_end(profile: str, rig_context: RigContext, forward_proxy: list[str]) -> None:
    """OSS accepts only virtual-hosted requests: the bucket must travel in the Host header."""
    bucket = rig.bucket_name(rig_context, profile)
    admin = rig.fresh_admin_client(rig_context.emulators().s3_endpoint)  # not cached: HTTP_PROXY is set
    admin.create_bucket(Bucket=bucket)
    admin.close()
    forward_proxy.clear()  # the path-style admin request above went through the proxy too
    domain = f"{REGIONS[profile]}.circle-test.invalid:{urlsplit(rig_context.emulators().s3_endpoint).port}"
    store = open_store(
        f"s3://{bucket}",
        profile=profile,
        endpoint_url=f"http://{domain}",
        region=REGIONS[profile],
        access_key_id="testing",
        secret_access_key="testing",
    )
    store.put("v/key", b"virtual")
    assert store.get("v/key").read() == b"virtual"
    assert [o.key for o in store.list("v/")] == ["v/key"]  # type: ignore[union-attr]
    store.delete_many(["v/key"])
    assert not store.exists("v/key")
    assert forward_proxy and set(forward_proxy) == {f"{bucket}.{domain}"}


# -- docs -----------------------------------------------------------------------------------------------
def test_docs_table_is_current() -> None:
    table = profiles_table()
    assert len(table.splitlines()) == 2 + len(PROFILES)
    assert table in DOCS.read_text(), "regenerate the table in docs/storage/s3.md from profiles_table()"
