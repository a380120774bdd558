"""The Azure Blob provider against Azurite: every operation, its conditions and its error paths."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken, AzureSasCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from core.storage import (
    AlreadyExists,
    CommonPrefix,
    InvalidArgument,
    NotFound,
    ObjectInfo,
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
from core.storage.providers.azure_blob import READ_CHUNK, AzureBlobBackend, _info
from core.storage.providers.azure_listing import parse_list_blobs
from scripts.emulators import AZURITE_ACCOUNT, AZURITE_KEY, free_port
from tests.fakes.fault_proxy import FaultProxy, cut, drop, server_busy_503
from tests.rigs import RigContext
from tests.rigs import azure as rig

pytestmark = pytest.mark.emulator
PART = 64 * 1024
FAST = RetryPolicy(max_attempts=1)
MiB = 1024 * 1024


@pytest.fixture
def store(rig_context: RigContext) -> Iterator[ObjectStore]:
    s = rig.make(rig_context, part_size=PART, single_put_threshold=PART, retry=FAST)
    yield s
    s.close()


def container_name(store: ObjectStore) -> str:
    return store.url.removeprefix("az://").split("/", 1)[0]


def admin(rig_context: RigContext, store: ObjectStore) -> ContainerClient:
    """A plain SDK client on the store's container, to check what really landed on the service."""
    service = BlobServiceClient.from_connection_string(rig_context.emulators().azure_connection_string)
    return service.get_container_client(container_name(store))


def sas_token(container: str, **perms: bool) -> str:
    return generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(**perms),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def sas_store(rig_context: RigContext, container: str, endpoint: str | None = None, **perms: bool) -> ObjectStore:
    base = endpoint or rig_context.emulators().azure_endpoint
    return open_store(
        f"az://{container}",
        retry=FAST,
        account_url=f"{base}/{AZURITE_ACCOUNT}",
        credential=sas_token(container, **perms),
    )


def parts(total: int, size: int = 10_000) -> Iterator[bytes]:
    for i in range(0, total, size):
        yield bytes((j % 251) for j in range(i, min(total, i + size)))


# -- puts ---------------------------------------------------------------------------------------------
def test_small_put_is_one_put_blob_and_round_trips(store: ObjectStore, rig_context: RigContext) -> None:
    info = store.put("dir/a.txt", b"hello", content_type="text/plain", metadata={"Owner_Id": "7"})
    assert info.size == 5 and info.etag and not info.etag.startswith('"')
    assert info.checksums == {"md5": hashlib.md5(b"hello").hexdigest()}
    assert info.last_modified is not None and info.last_modified.tzinfo is not None
    head = store.head("dir/a.txt")
    assert (head.etag, head.content_type, dict(head.metadata)) == (info.etag, "text/plain", {"owner_id": "7"})
    assert head.checksums["md5"] == info.checksums["md5"]
    assert head.last_modified is not None and head.last_modified.utcoffset() == timedelta(0)
    assert store.get("dir/a.txt").read() == b"hello"
    blocks = admin(rig_context, store).get_blob_client("dir/a.txt").get_block_list("all")
    assert blocks == ([], [])  # Put Blob, not a block list


def test_default_content_type_and_empty_body(store: ObjectStore) -> None:
    info = store.put("empty", b"")
    assert (info.size, info.content_type) == (0, "application/octet-stream")
    assert store.head("empty").content_type == "application/octet-stream"
    assert store.get("empty").read() == b""


def test_large_put_stages_blocks_and_commits(store: ObjectStore, rig_context: RigContext) -> None:
    total = 3 * PART + 123
    data = b"".join(parts(total))
    info = store.put("big.bin", parts(total), content_type="application/x-test", metadata={"k": "v"})
    assert info.size == total and info.checksums["md5"] == hashlib.md5(data).hexdigest()
    committed, uncommitted = admin(rig_context, store).get_blob_client("big.bin").get_block_list("all")
    assert [b.size for b in committed] == [PART, PART, PART, 123] and uncommitted == []
    head = store.head("big.bin")
    assert (head.size, head.etag, head.content_type, dict(head.metadata)) == (
        total,
        info.etag,
        "application/x-test",
        {"k": "v"},
    )
    assert head.checksums["md5"] == hashlib.md5(data).hexdigest()
    assert store.get("big.bin").read() == data


def test_failed_block_upload_leaves_nothing_visible(store: ObjectStore, rig_context: RigContext) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * PART
        yield b"y" * PART  # two blocks are staged by now
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        store.put("partial", broken())
    assert not store.exists("partial")
    assert list(store.list()) == []
    _, uncommitted = admin(rig_context, store).get_blob_client("partial").get_block_list("all")
    assert len(uncommitted) >= 1  # the blocks really went up; they just never became an object


def test_failed_block_upload_keeps_the_previous_object(store: ObjectStore) -> None:
    store.put("keep", b"original")

    def broken() -> Iterator[bytes]:
        yield b"z" * (2 * PART)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.put("keep", broken())
    assert store.get("keep").read() == b"original"


@pytest.mark.parametrize("big", [False, True], ids=["put-blob", "block-list"])
def test_create_only(store: ObjectStore, big: bool) -> None:
    body = (lambda: parts(2 * PART + 1)) if big else (lambda: b"first")
    store.put("k", body(), if_none_match="*")
    before = store.head("k")
    with pytest.raises(AlreadyExists) as err:
        store.put("k", body(), if_none_match="*")
    assert err.value.key == "k" and err.value.status in (409, 412)
    assert store.head("k").etag == before.etag


@pytest.mark.parametrize("big", [False, True], ids=["put-blob", "block-list"])
def test_compare_and_swap(store: ObjectStore, big: bool) -> None:
    body = (lambda: parts(2 * PART + 1)) if big else (lambda: b"v")
    first = store.put("cas", b"v1")
    second = store.put("cas", body(), if_match=first.etag)
    assert second.etag != first.etag
    with pytest.raises(PreconditionFailed):
        store.put("cas", body(), if_match=first.etag)
    assert store.head("cas").etag == second.etag
    third = store.put("cas", b"v3", if_match=f'"{second.etag}"')  # quoted ETags are accepted too
    assert store.head("cas").etag == third.etag
    with pytest.raises(NotFound):
        store.put("missing", body(), if_match=first.etag)
    assert not store.exists("missing")


@pytest.mark.parametrize("name", ["has-hyphen", "9lives"])
def test_metadata_names_that_are_not_identifiers_round_trip_encoded(store: ObjectStore, name: str) -> None:
    store.put("m", b"x", metadata={name: "v", "plain": "p"})
    assert store.head("m").metadata == {name: "v", "plain": "p"}
    store.put("big", parts(3 * PART), metadata={name: "v"})
    assert store.head("big").metadata == {name: "v"}
    raw = store._backend._container.get_blob_client("m").get_blob_properties().metadata  # type: ignore[attr-defined]
    assert name not in raw and "plain" in raw  # stored under the encoded, identifier-safe name


def test_the_encoding_prefix_is_reserved(store: ObjectStore) -> None:
    with pytest.raises(InvalidArgument, match="reserved"):
        store.put("m", b"x", metadata={"circlehex_41": "v"})
    assert not store.exists("m")


def test_metadata_values_and_underscore_names(store: ObjectStore) -> None:
    store.put("m", b"x", metadata={"_private": "a b", "CamelCase": "Value"})
    assert dict(store.head("m").metadata) == {"_private": "a b", "camelcase": "Value"}


# -- reads --------------------------------------------------------------------------------------------
def test_ranges(store: ObjectStore) -> None:
    store.put("r", b"0123456789")
    assert store.get("r", start=2, end=5).read() == b"234"
    assert store.get("r", start=7).read() == b"789"
    assert store.get("r", start=-3).read() == b"789"
    assert store.get("r", start=-30).read() == b"0123456789"
    assert store.get("r", start=8, end=100).read() == b"89"
    reader = store.get("r", start=2, end=5)
    assert reader.info.size == 10  # the object's size, not the slice's
    past = store.get("r", start=10)
    assert past.read() == b"" and past.info.size == 10
    assert store.get("r", start=50, end=60).read() == b""


def test_ranges_on_an_empty_object(store: ObjectStore) -> None:
    store.put("e", b"")
    assert store.get("e", start=-5).read() == b""
    assert store.get("e", start=3).read() == b""


def test_get_streams_in_bounded_chunks(store: ObjectStore) -> None:
    total = 2 * READ_CHUNK + 17
    data = b"".join(parts(total, 1 * MiB))
    store.put("stream", data)
    with store.get("stream") as reader:
        chunks = list(reader)
    assert len(chunks) >= 3 and max(map(len, chunks)) <= READ_CHUNK
    assert b"".join(chunks) == data


def test_a_large_read_is_the_first_chunk_and_one_streamed_get(rig_context: RigContext) -> None:
    """The SDK's downloader would ask for every READ_CHUNK separately (100 GETs for 100 MiB); the rest
    after the first answer is one ranged GET, for whole reads and ranges alike."""
    total = 3 * READ_CHUNK + 17
    data = b"".join(parts(total, 1 * MiB))
    with FaultProxy(rig_context.emulators().azure_endpoint) as proxy:
        store = rig.make(rig_context, via=proxy.url, retry=FAST)
        store.put("big", data)
        for start, end in ((None, None), (READ_CHUNK // 2, None), (7, 2 * READ_CHUNK + 9), (-(READ_CHUNK + 5), None)):
            proxy.clear()
            wanted = data[start:end] if start is not None else data
            assert store.get("big", start=start, end=end).read() == wanted, (start, end)
            assert proxy.count(method="GET") == 2, (start, end, [s.path for s in proxy.requests])
        proxy.clear()
        assert store.get("big", start=total - 3).read() == data[-3:]  # within the first answer: one GET
        assert proxy.count(method="GET") == 1


def test_a_blob_replaced_after_the_first_chunk_is_not_read_on(store: ObjectStore) -> None:
    """The rest is pinned to the first answer's ETag: a reader never mixes two versions."""
    store.put("moving", b"".join(parts(2 * READ_CHUNK, 1 * MiB)))
    with store.get("moving") as reader:
        chunks = iter(reader)
        assert len(next(chunks)) == READ_CHUNK
        store.put("moving", b"new version")
        with pytest.raises(PreconditionFailed):
            next(chunks)


def test_a_refused_start_of_the_rest_is_retried(rig_context: RigContext) -> None:
    data = b"".join(parts(2 * READ_CHUNK + 5, 1 * MiB))
    with FaultProxy(rig_context.emulators().azure_endpoint) as proxy:
        sleeps: list[float] = []
        store = rig.make(rig_context, via=proxy.url, retry=RetryPolicy(max_attempts=3, sleep=sleeps.append))
        store.put("retry", data)
        proxy.inject(server_busy_503(), times=1, skip=1, method="GET")  # the first answer passes, then one 503
        assert store.get("retry").read() == data
        assert proxy.count(method="GET", faulted=True) == 1 and len(sleeps) == 1


def test_a_body_cut_mid_stream_is_resumed_where_it_stopped(rig_context: RigContext) -> None:
    """The streamed rest loses its connection part-way: the next request asks for the bytes from there
    (pinned to the same ETag), so the reader returns every byte once; cut again and again, the read
    fails as a transient error instead of returning a short body."""
    from core.storage.providers._common import RESUMES

    data = b"".join(parts(3 * READ_CHUNK + 11, 1 * MiB))
    with FaultProxy(rig_context.emulators().azure_endpoint) as proxy:
        store = rig.make(rig_context, via=proxy.url, retry=FAST)
        store.put("cut", data)
        proxy.clear()
        proxy.inject(cut(READ_CHUNK // 2), times=1, skip=1, method="GET")  # the first answer passes whole
        assert store.get("cut").read() == data
        ranges = [s.headers.get("x-ms-range") for s in proxy.requests if s.method == "GET"]
        resumed_at = READ_CHUNK + READ_CHUNK // 2
        assert ranges[1:] == [f"bytes={READ_CHUNK}-{len(data) - 1}", f"bytes={resumed_at}-{len(data) - 1}"]

        proxy.clear()
        proxy.inject(cut(1000), times=None, skip=1, method="GET")
        with pytest.raises(TransientError):
            store.get("cut").read()
        assert proxy.count(method="GET") == 1 + 1 + RESUMES


def test_get_if_match(store: ObjectStore) -> None:
    info = store.put("g", b"abc")
    assert store.get("g", if_match=info.etag).read() == b"abc"
    assert store.get("g", if_match=info.etag, start=-1).read() == b"c"
    with pytest.raises(PreconditionFailed):
        store.get("g", if_match="0x8D000000000000")
    with pytest.raises(PreconditionFailed):
        store.get("g", if_match="0x8D000000000000", start=-1)
    with pytest.raises(NotFound):
        store.get("nothing", if_match=info.etag)


def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(NotFound) as err:
        store.get("nope")
    assert err.value.request_id and err.value.status == 404 and err.value.key == "nope"
    with pytest.raises(NotFound):
        store.head("nope")
    with pytest.raises(FileNotFoundError):
        store.get("nope", start=-2)


def test_version_is_none_without_blob_versioning(store: ObjectStore) -> None:
    info = store.put("v", b"1")
    assert info.version is None and store.head("v").version is None
    assert store.capabilities.versioning is False


# -- deletes ------------------------------------------------------------------------------------------
def test_delete(store: ObjectStore) -> None:
    store.put("d", b"1")
    store.delete("d")
    assert not store.exists("d")
    store.delete("d")  # missing is fine


def test_delete_if_match(store: ObjectStore) -> None:
    info = store.put("d", b"1")
    with pytest.raises(PreconditionFailed):
        store.delete("d", if_match="0x8D000000000000")
    assert store.exists("d")
    store.delete("d", if_match=info.etag)
    assert not store.exists("d")
    with pytest.raises(NotFound):
        store.delete("d", if_match=info.etag)


def test_delete_many_uses_blob_batches(store: ObjectStore) -> None:
    keys = [f"many/{i:03d}" for i in range(300)]  # two batches: 256 + 44
    for k in keys:
        store.put(k, b"x")
    assert store.capabilities.delete_many_max == 256
    assert store.delete_many([*keys, "many/never-existed"]) == []
    assert list(store.list("many/")) == []
    assert store.delete_many([]) == []
    store.put("twice", b"x")
    assert store.delete_many(["twice", "twice"]) == [] and not store.exists("twice")


# -- listing ------------------------------------------------------------------------------------------
def test_list_pages_delimiter_and_start_after(store: ObjectStore) -> None:
    for k in ["a/1", "a/2", "b", "c/x/y", "d", "e"]:
        store.put(k, b"x", metadata={"n": k.replace("/", "_")})
    page = store.list_page(page_size=2)
    assert [o.key for o in page.objects] == ["a/1", "a/2"] and page.next_token
    assert page.objects[0].metadata == {"n": "a_1"} and page.objects[0].size == 1
    keys = [o.key for o in page.objects]
    token: str | None = page.next_token
    while token:
        page = store.list_page(page_size=2, token=token)
        keys += [o.key for o in page.objects]
        token = page.next_token
    assert keys == ["a/1", "a/2", "b", "c/x/y", "d", "e"]
    flat = store.list_page(delimiter="/")
    assert flat.prefixes == [CommonPrefix("a/"), CommonPrefix("c/")]
    assert [o.key for o in flat.objects] == ["b", "d", "e"]
    assert [o.key for o in store.list_page(start_after="b").objects] == ["c/x/y", "d", "e"]
    assert [o.key for o in store.list_page(start_after="c").objects] == ["c/x/y", "d", "e"]
    assert [o.key for o in store.list_page("a/", start_after="a/1").objects] == ["a/2"]
    after = store.list_page(delimiter="/", start_after="a/2")
    assert after.prefixes == [CommonPrefix("c/")] and [o.key for o in after.objects] == ["b", "d", "e"]
    # start_after filtering never returns an empty page while more keys follow
    first = store.list_page(page_size=2, start_after="c/x/y")
    assert [o.key for o in first.objects] == ["d", "e"]
    assert [x.key for x in store.list(start_after="d") if isinstance(x, ObjectInfo)] == ["e"]


def test_list_prefix_scoping(rig_context: RigContext) -> None:
    base = rig.make(rig_context, retry=FAST)
    base.put("p/one", b"1")
    base.put("q/two", b"2")
    scoped = open_store(
        f"{base.url}/p", retry=FAST, connection_string=rig.connection_string(rig_context.emulators().azure_endpoint)
    )
    assert [o.key for o in scoped.list() if isinstance(o, ObjectInfo)] == ["one"]
    assert scoped.get("one").read() == b"1"


def test_listing_reads_what_the_sdk_model_reads(store: ObjectStore, rig_context: RigContext) -> None:
    """Our List Blobs reader (core.storage.providers.azure_listing) against the SDK's own deserializer,
    on the same Azurite answer: every field an ObjectInfo carries, for odd names and metadata."""
    names = ["plain", "sp ace", "plus+sign", "unicodé/ключ", "pct%41", "amp&lt", "q?uery#frag", "deep/er/key"]
    for i, name in enumerate(names):
        store.put(name, b"v" * i, content_type="text/plain" if i % 2 else None, metadata={"n": str(i), "odd-name": "x"})
    ours = {o.key: o for o in store.list() if isinstance(o, ObjectInfo)}
    theirs = {p.name: _info(p.name, p) for p in admin(rig_context, store).list_blobs(include=["metadata"])}
    assert sorted(ours) == sorted(names) and ours == theirs
    assert ours["plus+sign"].checksums["md5"] == hashlib.md5(b"v" * 2).hexdigest()
    assert ours["deep/er/key"].metadata == {"n": "7", "odd-name": "x"}
    prefixes = store.list_page(delimiter="/").prefixes
    assert prefixes == [CommonPrefix("deep/"), CommonPrefix("unicodé/")]


# From the List Blobs reference (response body): an encoded name, a prefix, metadata, an MD5, a marker.
LIST_BLOBS_ANSWER = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://myaccount.blob.core.windows.net/" ContainerName="mycontainer">
  <Prefix>a</Prefix><MaxResults>3</MaxResults><Delimiter>/</Delimiter>
  <Blobs>
    <Blob>
      <Name>a.txt</Name>
      <VersionId>2024-01-02T03:04:05.0000000Z</VersionId>
      <Properties>
        <Creation-Time>Tue, 02 Jan 2024 03:04:05 GMT</Creation-Time>
        <Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified>
        <Etag>0x8DC0B4F3B2C1A00</Etag>
        <Content-Length>11</Content-Length>
        <Content-Type>text/plain</Content-Type>
        <Content-Encoding />
        <Content-MD5>XrY7u+Ae7tCTyyK7j1rNww==</Content-MD5>
        <BlobType>BlockBlob</BlobType>
      </Properties>
      <Metadata><Owner>ops</Owner></Metadata>
    </Blob>
    <Blob>
      <Name Encoded="true">a%EF%BF%BFb</Name>
      <Properties><Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified><Etag>"0x1"</Etag>
        <Content-Length>0</Content-Length><Content-Type /><Content-MD5 /></Properties>
    </Blob>
    <BlobPrefix><Name>a/</Name></BlobPrefix>
  </Blobs>
  <NextMarker>2!72!MDAwMDE</NextMarker>
</EnumerationResults>"""


def test_list_blobs_answer_as_the_rest_reference_documents_it() -> None:
    entries, marker = parse_list_blobs(LIST_BLOBS_ANSWER, lambda m: {k.lower(): v for k, v in m.items()})
    assert marker == "2!72!MDAwMDE"
    assert [name for name, _ in entries] == ["a.txt", "a\uffffb", "a/"]
    first, encoded, prefix = (entry for _, entry in entries)
    assert first == ObjectInfo(
        key="a.txt",
        size=11,
        etag="0x8DC0B4F3B2C1A00",
        last_modified=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        content_type="text/plain",
        metadata={"owner": "ops"},
        version="2024-01-02T03:04:05.0000000Z",
        checksums={"md5": hashlib.md5(b"hello world").hexdigest()},
    )
    assert isinstance(encoded, ObjectInfo) and encoded.etag == "0x1" and encoded.content_type is None
    assert encoded.checksums == {} and encoded.metadata == {} and encoded.size == 0
    assert prefix == CommonPrefix("a/")
    done = LIST_BLOBS_ANSWER.replace(b"<NextMarker>2!72!MDAwMDE</NextMarker>", b"<NextMarker />")
    assert parse_list_blobs(done, dict)[1] is None


# -- copy ---------------------------------------------------------------------------------------------
def test_copy_keeps_content_type_and_metadata(store: ObjectStore) -> None:
    store.put("src key%+#?.txt", b"payload", content_type="text/csv", metadata={"a": "1"})
    info = store.copy("src key%+#?.txt", "dst/ü.txt")
    assert (info.key, info.size, info.content_type, dict(info.metadata)) == ("dst/ü.txt", 7, "text/csv", {"a": "1"})
    assert store.get("dst/ü.txt").read() == b"payload"
    with pytest.raises(AlreadyExists):
        store.copy("src key%+#?.txt", "dst/ü.txt", if_none_match="*")
    store.copy("src key%+#?.txt", "fresh", if_none_match="*")
    assert store.exists("fresh")
    with pytest.raises(NotFound):
        store.copy("absent", "elsewhere")
    assert not store.exists("elsewhere")


# -- presigned URLs -----------------------------------------------------------------------------------
def test_presigned_get_and_put(store: ObjectStore) -> None:
    store.put("pre/a b.txt", b"signed", content_type="text/plain")
    url = store.presign("pre/a b.txt", "GET", expires=300)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"signed"
    assert requests.get(url.replace("a%20b", "other"), timeout=10).status_code in (403, 404)

    put_url = store.presign("pre/up.bin", "PUT", expires=300)
    no_type = requests.put(put_url, data=b"x", timeout=10)
    assert no_type.status_code == 400  # x-ms-blob-type is required (see docs/storage/azure.md)
    done = requests.put(
        put_url, data=b"uploaded", timeout=10, headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png"}
    )
    assert done.status_code == 201
    head = store.head("pre/up.bin")
    assert (head.size, head.content_type) == (8, "image/png")
    assert requests.get(put_url, timeout=10).status_code == 403  # a PUT URL does not grant reads


def test_presigned_get_content_type_override(store: ObjectStore) -> None:
    store.put("ct", b"x", content_type="application/octet-stream")
    url = store.presign("ct", "GET", content_type="text/plain")
    assert requests.get(url, timeout=10).headers["Content-Type"] == "text/plain"


class StaticToken:
    """A token credential as Entra ID would give (no network): what DefaultAzureCredential provides."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("not-a-real-token", int(datetime.now(UTC).timestamp()) + 3600)


@pytest.mark.xfail(
    strict=True,
    reason="Azurite runs on plain HTTP here: the SDK refuses bearer tokens "
    "without TLS and Azurite's OAuth mode needs HTTPS, so user delegation keys are untestable",
)
def test_presign_with_user_delegation_key(store: ObjectStore, rig_context: RigContext) -> None:
    store.put("udk", b"delegated")
    token_store = open_store(
        f"az://{container_name(store)}",
        retry=FAST,
        credential=StaticToken(),
        account_url=f"{rig_context.emulators().azure_endpoint}/{AZURITE_ACCOUNT}",
    )
    url = token_store.presign("udk", "GET")
    assert "skoid=" in url
    assert requests.get(url, timeout=10).content == b"delegated"


def test_sas_credential_store_works_but_cannot_presign(store: ObjectStore, rig_context: RigContext) -> None:
    container = container_name(store)
    sas = sas_store(rig_context, container, read=True, write=True, create=True, delete=True, list=True, add=True)
    assert sas.capabilities.presign_read is False
    sas.put("s", b"via sas")
    sas.copy("s", "s2")  # the copy source is authorised by the same SAS
    assert sas.get("s2").read() == b"via sas"
    assert [o.key for o in sas.list() if isinstance(o, ObjectInfo)] == ["s", "s2"]
    with pytest.raises(Unsupported):
        sas.presign("s")
    # the SAS as an AzureSasCredential (held by the SDK policy, not the URL) is added to the copy source;
    # Azurite does not check copy-source authorisation, so this shows only that the path works
    held = open_store(
        f"az://{container}",
        retry=FAST,
        account_url=f"{rig_context.emulators().azure_endpoint}/{AZURITE_ACCOUNT}",
        credential=AzureSasCredential(sas_token(container, read=True, write=True, create=True)),
    )
    held.copy("s", "s3")
    assert held.get("s3").read() == b"via sas"


# -- errors -------------------------------------------------------------------------------------------
def test_every_operation_on_a_missing_container(rig_context: RigContext) -> None:
    gone = open_store(
        f"az://{rig_context.unique()}", retry=FAST, connection_string=rig_context.emulators().azure_connection_string
    )
    for op in (
        lambda: gone.head("k"),
        lambda: gone.get("k"),
        lambda: gone.put("k", b"1"),
        lambda: gone.put("k", parts(3 * PART)),
        lambda: gone.delete("k"),
        lambda: gone.list_page(),
        lambda: gone.copy("a", "b"),
    ):
        with pytest.raises(NotFound) as err:
            op()
        assert "ContainerNotFound" in str(err.value) or "BlobNotFound" in str(err.value)
    failures = gone.delete_many(["a", "b"])
    assert [f.key for f in failures] == ["a", "b"]
    assert all(isinstance(f.error, NotFound) for f in failures)


def wrong_key_store(rig_context: RigContext, container: str) -> ObjectStore:
    bad = rig.connection_string(rig_context.emulators().azure_endpoint).replace(
        AZURITE_KEY, "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="
    )
    return open_store(f"az://{container}", retry=FAST, connection_string=bad)


def test_wrong_account_key_is_a_permission_error(store: ObjectStore, rig_context: RigContext) -> None:
    bad = wrong_key_store(rig_context, container_name(store))
    for op in (
        lambda: bad.head("k"),
        lambda: bad.get("k"),
        lambda: bad.put("k", b"1"),
        lambda: bad.delete("k"),
        lambda: bad.list_page(),
        lambda: bad.delete_many(["k"]),
        lambda: bad.copy("a", "b"),
    ):
        with pytest.raises(PermissionError) as err:
            op()
        assert err.value.status == 403 and err.value.request_id  # type: ignore[attr-defined]


@pytest.mark.xfail(
    strict=True,
    reason="Azurite answers a bad shared-key signature with 403 "
    "AuthorizationFailure; Azure answers AuthenticationFailed (mapped to Unauthenticated)",
)
def test_wrong_account_key_is_unauthenticated(store: ObjectStore, rig_context: RigContext) -> None:
    with pytest.raises(Unauthenticated):
        wrong_key_store(rig_context, container_name(store)).head("k")


def test_translate_maps_azure_auth_codes() -> None:
    backend = AzureBlobBackend(
        "c",
        {
            "connection_string": "DefaultEndpointsProtocol=http;AccountName=a;"
            "AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/a;"
        },
    )
    for code, expected in [
        ("AuthenticationFailed", Unauthenticated),
        ("AuthorizationFailure", PermissionDenied),
        ("AuthorizationPermissionMismatch", PermissionDenied),
    ]:
        exc = HttpResponseError(message="denied")
        exc.status_code, exc.error_code = 403, code  # type: ignore[attr-defined]
        assert type(backend.translate(exc, "head", "k")) is expected
    no_token = ClientAuthenticationError(message="DefaultAzureCredential failed to retrieve a token")
    assert type(backend.translate(no_token, "head", "k")) is Unauthenticated


def test_read_only_sas_is_permission_denied_and_sig_is_redacted(store: ObjectStore, rig_context: RigContext) -> None:
    container = container_name(store)
    store.put("r", b"1")
    token = sas_token(container, read=True)
    read_only = open_store(
        f"az://{container}",
        retry=FAST,
        credential=token,
        account_url=f"{rig_context.emulators().azure_endpoint}/{AZURITE_ACCOUNT}",
    )
    assert read_only.get("r").read() == b"1"
    with pytest.raises(PermissionDenied) as err:
        read_only.put("w", b"2")
    signature = dict(p.split("=", 1) for p in token.split("&"))["sig"]
    assert signature not in str(err.value) and signature not in repr(err.value)
    assert not store.exists("w")


def test_transport_error_is_transient_and_hides_the_sas(
    rig_context: RigContext, store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = sas_token(container_name(store), read=True)
    signature = dict(p.split("=", 1) for p in token.split("&"))["sig"]
    # TLS against Azurite's plain-HTTP port: the handshake fails after the signed URL was built
    https = rig_context.emulators().azure_endpoint.replace("http://", "https://")
    broken = open_store(
        f"az://{container_name(store)}",
        retry=FAST,
        credential=token,
        connect_timeout=2,
        account_url=f"{https}/{AZURITE_ACCOUNT}",
    )
    with pytest.raises(TransientError) as err:
        broken.get("k")
    assert err.value.retryable and "SSL" in str(err.value)
    assert signature not in str(err.value) and signature not in repr(err.value)
    assert signature not in caplog.text and "sig=REDACTED" in caplog.text  # the SDK's log line was there
    # older transports put the signed URL in the message ("Max retries exceeded with url: ..."): redacted too
    url = store.presign("k")
    sdk_error = ServiceRequestError(f"HTTPConnectionPool(host='x', port=1): Max retries exceeded with url: {url}")
    translated = store._backend.translate(sdk_error, "get", "k")
    url_sig = url.rsplit("sig=", 1)[1]
    assert isinstance(translated, TransientError) and url_sig not in str(translated)
    assert "sig=***" in str(translated)


def test_refused_connection_is_transient() -> None:
    dead = open_store(
        "az://c",
        retry=FAST,
        connect_timeout=2,
        connection_string=rig.connection_string(f"http://127.0.0.1:{free_port()}"),
    )
    with pytest.raises(TransientError) as err:
        dead.list_page()
    assert err.value.retryable and err.value.operation == "list"


def test_transient_errors_are_retried(store: ObjectStore) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, sleep=sleeps.append)
    dead = open_store(
        "az://c",
        retry=policy,
        connect_timeout=1,
        connection_string=rig.connection_string(f"http://127.0.0.1:{free_port()}"),
    )
    with pytest.raises(TransientError):
        dead.head("k")
    assert len(sleeps) == 2


def test_no_credential_in_repr_errors_or_logs(
    rig_context: RigContext, store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "U2VjcmV0S2V5VGhhdE11c3ROZXZlckxlYWtPdXQxMjM0NQ=="
    cs = rig.connection_string(rig_context.emulators().azure_endpoint).replace(AZURITE_KEY, secret)
    leaky = open_store(f"az://{container_name(store)}", retry=FAST, connection_string=cs)
    assert secret not in repr(leaky) and repr(leaky) == f"ObjectStore('az://{container_name(store)}')"
    assert leaky.url == f"az://{container_name(store)}"
    with pytest.raises(PermissionError) as err:
        leaky.put("k", b"1")
    assert secret not in str(err.value) and secret not in repr(err.value)
    with pytest.raises(InvalidArgument) as bad_option:
        open_store("az://c", connection_string=cs, bogus=secret)
    assert secret not in str(bad_option.value)
    assert secret not in caplog.text


def test_sdk_retries_are_off_and_ours_apply(rig_context: RigContext) -> None:
    with FaultProxy(rig_context.emulators().azure_endpoint) as proxy:
        once = rig.make(rig_context, via=proxy.url, retry=FAST)
        proxy.inject(server_busy_503(), times=1, method="PUT")
        with pytest.raises(Throttled) as err:
            once.put("k", b"1")
        assert err.value.request_id == "FAULTPROXY"
        assert proxy.count(method="PUT") == 1  # the SDK did not retry on its own

        sleeps: list[float] = []
        patient = rig.make(rig_context, via=proxy.url, retry=RetryPolicy(max_attempts=4, sleep=sleeps.append))
        proxy.clear()
        proxy.inject(server_busy_503(), times=2, method="PUT")
        assert patient.put("k", b"2").size == 1
        assert proxy.count(method="PUT") == 3 and len(sleeps) == 2
        assert patient.get("k").read() == b"2"


def test_a_dropped_block_upload_is_retried(rig_context: RigContext) -> None:
    with FaultProxy(rig_context.emulators().azure_endpoint) as proxy:
        store = rig.make(
            rig_context,
            via=proxy.url,
            part_size=PART,
            single_put_threshold=PART,
            retry=RetryPolicy(max_attempts=3, sleep=lambda _: None),
        )
        proxy.inject(drop(), times=1, skip=1, path_contains="comp=block&")
        data = b"".join(parts(3 * PART))
        info = store.put("blocks", parts(3 * PART))
        assert proxy.count(faulted=True) == 1
        assert info.checksums["md5"] == hashlib.md5(data).hexdigest()
        assert store.get("blocks").read() == data


# -- options and environment --------------------------------------------------------------------------
def test_unknown_and_bad_options(emulators: Any) -> None:
    cs = emulators.azure_connection_string
    with pytest.raises(InvalidArgument, match="bogus"):
        open_store("az://c", connection_string=cs, bogus=1)
    with pytest.raises(InvalidArgument, match="part_size"):
        open_store("az://c", connection_string=cs, part_size=0)
    with pytest.raises(InvalidArgument, match=r"api_version|API version"):
        open_store("az://c", connection_string=cs, api_version="1999-01-01")
    with pytest.raises(InvalidArgument, match="either"):
        open_store("az://c", connection_string=cs, account_url="http://127.0.0.1/devstoreaccount1")


def test_api_version_pin(rig_context: RigContext) -> None:
    pinned = rig.make(rig_context, api_version="2021-08-06", retry=FAST)
    pinned.put("k", b"old api")
    assert pinned.get("k", start=-3).read() == b"api"


def test_connection_string_from_environment(
    emulator_env: dict[str, str], store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("env", b"from env")
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    assert open_store(f"az://{container_name(store)}", retry=FAST).get("env").read() == b"from env"


def test_account_url_with_sas_from_environment(
    store: ObjectStore, rig_context: RigContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = container_name(store)
    store.put("env", b"sas url")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv(
        "AZURE_STORAGE_ACCOUNT_URL",
        f"{rig_context.emulators().azure_endpoint}/{AZURITE_ACCOUNT}?{sas_token(container, read=True)}",
    )
    assert open_store(f"az://{container}", retry=FAST).get("env").read() == b"sas url"


def test_no_credential_means_entra_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    with pytest.raises(InvalidArgument, match="connection_string"):
        open_store("az://c")
    # DefaultAzureCredential is a token credential, which the SDK refuses over plain HTTP
    with pytest.raises(InvalidArgument, match="HTTPS"):
        open_store("az://c", account_url="http://127.0.0.1:9/devstoreaccount1")
    https = open_store("az://c", account_url="https://acct.blob.core.windows.net")
    assert https.capabilities.presign_read and https.url == "az://c"


def test_importing_the_provider_does_not_import_azure_identity() -> None:
    code = (
        "import sys, core.storage.providers.azure_blob; "
        "assert 'azure.identity' not in sys.modules, 'azure.identity imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- keys ---------------------------------------------------------------------------------------------
KEYS = [
    "with space",
    "plus+sign",
    "per%25cent",
    "hash#tag",
    "quest?ion",
    "ünïcødé/日本語",
    "deep/" * 20 + "x",
    "semi;colon=eq&amp",
    "tilde~'quote'",
    "k" * 1024,
]


def test_keys_round_trip(store: ObjectStore) -> None:
    for key in KEYS:
        store.put(key, key.encode())
    for key in KEYS:
        assert store.get(key).read() == key.encode(), key
        assert store.head(key).key == key
    assert sorted(o.key for o in store.list() if isinstance(o, ObjectInfo)) == sorted(KEYS)
    assert store.delete_many(KEYS) == []
    assert list(store.list()) == []
