"""Unit tests of the storage core: value types, Body, ObjectReader, RetryPolicy, validation, redaction,
the error tree and lazy imports."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from collections.abc import Iterator, Mapping

import pytest

from core.credentials import install_resolver
from core.storage import (
    AlreadyExists,
    ByteRange,
    InvalidArgument,
    InvalidKey,
    NotFound,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    PermissionDenied,
    PreconditionFailed,
    RetryPolicy,
    StorageError,
    Throttled,
    TransientError,
    Unauthenticated,
    Unsupported,
    open_store,
)
from core.storage.api import Body
from core.storage.errors import error_for_status, redact
from core.storage.store import normalise_metadata

# -- ByteRange ---------------------------------------------------------------------------------------


def test_byte_range_from_slice() -> None:
    assert ByteRange.from_slice(None, None) is None
    assert ByteRange.from_slice(5, None) == ByteRange(start=5)
    assert ByteRange.from_slice(None, 7) == ByteRange(start=0, end=7)
    assert ByteRange.from_slice(-3, None) == ByteRange(suffix=3)
    with pytest.raises(InvalidArgument):
        ByteRange.from_slice(-3, 10)
    with pytest.raises(InvalidArgument):
        ByteRange.from_slice(0, -1)


@pytest.mark.parametrize(
    ("rng", "header", "resolved", "empty"),
    [
        (ByteRange(start=5), "bytes=5-", (5, 10), False),
        (ByteRange(start=2, end=4), "bytes=2-3", (2, 4), False),
        (ByteRange(suffix=3), "bytes=-3", (7, 10), False),
        (ByteRange(suffix=30), "bytes=-30", (0, 10), False),
        (ByteRange(start=20), "bytes=20-", (10, 10), False),
        (ByteRange(start=3, end=50), "bytes=3-49", (3, 10), False),
        (ByteRange(start=4, end=4), "bytes=4-3", (4, 4), True),
        (ByteRange(suffix=0), "bytes=-0", (10, 10), True),
    ],
)
def test_byte_range_header_resolve_empty(rng: ByteRange, header: str, resolved: tuple[int, int], empty: bool) -> None:
    assert rng.resolve(10) == resolved
    assert rng.is_empty is empty
    if not empty:
        assert rng.http_header() == header


# -- Body --------------------------------------------------------------------------------------------


def test_body_from_bytes_is_whole() -> None:
    body = Body(b"abcdef")
    assert body.known_size == 6
    assert body.read_whole(6) == b"abcdef"


def test_body_over_limit_then_parts_loses_nothing() -> None:
    body = Body(iter([b"ab", b"", b"cde", b"fghij"]))
    assert body.known_size is None
    assert body.read_whole(4) is None
    assert list(body.parts(4)) == [b"abcd", b"efgh", b"ij"]


def test_body_parts_exact_multiple_and_file_source() -> None:
    assert list(Body(io.BytesIO(b"x" * 12), chunk_size=5).parts(4)) == [b"xxxx"] * 3
    assert list(Body(b"").parts(4)) == []
    assert Body(iter([])).read_whole(0) == b""


def test_body_holds_at_most_about_one_part() -> None:
    pulled = 0

    def source() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"x" * 10

    parts = Body(source()).parts(30)
    next(parts)
    assert pulled <= 4  # lazily pulled: one part's worth (plus one chunk)


@pytest.mark.parametrize("item", [5, "text"])
def test_body_rejects_non_bytes_items(item: object) -> None:
    with pytest.raises(InvalidArgument, match=type(item).__name__):
        list(Body(iter([b"ok", item])).parts(4))  # type: ignore[list-item]


def test_body_rejects_str() -> None:
    with pytest.raises(InvalidArgument):
        Body("text")  # type: ignore[arg-type]
    with pytest.raises((InvalidArgument, TypeError)):
        list(Body(iter(["text"])).parts(4))  # type: ignore[arg-type]


# -- ObjectReader ------------------------------------------------------------------------------------

INFO = ObjectInfo(key="k", size=10)


def test_reader_read_sizes_and_iteration() -> None:
    reader = ObjectReader(iter([b"abc", b"", b"defg", b"hij"]), INFO)
    assert reader.read(2) == b"ab"
    assert reader.read(3) == b"cde"
    assert list(reader) == [b"fg", b"hij"]
    assert reader.read() == b""


def test_reader_readinto_readall_and_buffered_wrapper() -> None:
    reader = ObjectReader(iter([b"abc", b"def"]), INFO)
    buf = bytearray(4)
    assert reader.readinto(buf) == 3 and bytes(buf[:3]) == b"abc"
    assert reader.readall() == b"def"
    buffered = io.BufferedReader(ObjectReader(iter([b"line1\nli", b"ne2\n"]), INFO))
    assert buffered.readlines() == [b"line1\n", b"line2\n"]


def test_reader_close_runs_once_and_with_closes() -> None:
    calls: list[int] = []
    with ObjectReader(iter([b"x"]), INFO, close=lambda: calls.append(1)) as reader:
        assert reader.read() == b"x"
    reader.close()
    assert calls == [1]
    assert reader.closed
    assert repr(reader) == "ObjectReader(key='k', size=10)"


def test_reader_translates_stream_errors() -> None:
    def broken() -> Iterator[bytes]:
        yield b"a"
        raise ConnectionResetError("peer reset")

    reader = ObjectReader(broken(), INFO, translate=lambda exc: TransientError(str(exc), operation="get"))
    assert reader.read(1) == b"a"
    with pytest.raises(TransientError, match="peer reset"):
        reader.read()
    untranslated = ObjectReader(broken(), INFO)
    with pytest.raises(ConnectionResetError):
        untranslated.read()


# -- RetryPolicy -------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return calls, fn


def test_retry_recovers_from_retryable_errors() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=5, sleep=clock.sleep, clock=clock.clock)
    calls, fn = _failing([Throttled("slow"), TransientError("blip")])
    assert policy.call(fn) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert len(clock.sleeps) == 2


def test_retry_stops_at_max_attempts() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, sleep=clock.sleep, clock=clock.clock)
    calls, fn = _failing([TransientError(str(i)) for i in range(10)])
    with pytest.raises(TransientError, match="2"):
        policy.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_retry_never_retries_non_retryable_or_when_told_not_to() -> None:
    policy = RetryPolicy(sleep=lambda s: None)
    calls, fn = _failing([PermissionDenied("no")])
    with pytest.raises(PermissionDenied):
        policy.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 1
    calls, fn = _failing([TransientError("blip")])
    with pytest.raises(TransientError):
        policy.call(fn, retryable=False)  # type: ignore[arg-type]
    assert len(calls) == 1
    calls, fn = _failing([ValueError("not a storage error")])
    with pytest.raises(ValueError):
        policy.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_retry_honours_total_time_budget() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        max_attempts=1000,
        total_timeout=10.0,
        initial_backoff=1.0,
        max_backoff=4.0,
        sleep=clock.sleep,
        clock=clock.clock,
    )
    calls, fn = _failing([TransientError("x") for _ in range(1000)])
    with pytest.raises(TransientError):
        policy.call(fn)  # type: ignore[arg-type]
    assert clock.now <= 10.0  # never sleeps past the budget
    assert 3 <= len(calls) < 1000


def test_backoff_is_full_jitter_capped() -> None:
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=1.0)
    for attempt in range(8):
        cap = min(1.0, 0.1 * 2**attempt)
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= s <= cap for s in samples)
        assert max(samples) > cap / 2  # really spread over the interval


# -- validation --------------------------------------------------------------------------------------


def test_metadata_is_lower_cased_and_validated() -> None:
    assert normalise_metadata({"Content-Owner": "Ann", "x_1": ""}) == {"content-owner": "Ann", "x_1": ""}
    assert normalise_metadata(None) == {}
    for bad in ({"": "v"}, {"sp ace": "v"}, {"ü": "v"}, {"k": "ü"}, {"k": "line\nbreak"}, {"k": 1}):
        with pytest.raises(InvalidArgument):
            normalise_metadata(bad)  # type: ignore[arg-type]


def test_store_rejects_bad_metadata_and_writes_nothing() -> None:
    store = open_store("memory://")
    with pytest.raises(InvalidArgument):
        store.put("k", b"v", metadata={"bad key": "v"})
    assert list(store.list()) == []


@pytest.mark.parametrize("key", ["", "a\x00b", "x" * 1025, "é" * 513, None, 5])
def test_store_key_validation(key: object) -> None:
    store = open_store("memory://")
    with pytest.raises(InvalidKey):
        store.put(key, b"v")  # type: ignore[arg-type]
    assert list(store.list()) == []


def test_longest_key_and_scoped_key_length() -> None:
    store = open_store("memory://keys")
    store.put("x" * 1024, b"v")
    assert store.head("x" * 1024).key == "x" * 1024
    scoped = open_store("memory://keys/pre")
    with pytest.raises(InvalidKey):
        scoped.put("x" * 1021, b"v")  # the prefix counts towards the limit


def test_conditional_argument_validation() -> None:
    store = open_store("memory://")
    with pytest.raises(InvalidArgument):
        store.put("k", b"v", if_none_match="etag")
    with pytest.raises(InvalidArgument):
        store.put("k", b"v", if_none_match="*", if_match="abc")
    with pytest.raises(InvalidArgument):
        store.presign("k", "DELETE")  # type: ignore[arg-type]
    with pytest.raises(Unsupported):
        store.presign("k")
    assert list(store.list()) == []


def test_open_store_rejects_unknown_schemes_and_options() -> None:
    with pytest.raises(InvalidArgument, match="scheme"):
        open_store("ftp://host/x")
    with pytest.raises(InvalidArgument):
        open_store("memory://x", region="eu")
    with pytest.raises(InvalidArgument):
        open_store("file://host/abs")


# -- errors and redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAXYZ/2024", "deadbeefcafe"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAXYZ/2024", "AKIAXYZ"),
        ("https://acct.blob.core.windows.net/c/b?sv=2022&sig=c2VjcmV0c2ln%3D&se=2030", "c2VjcmV0c2ln"),
        ("https://storage.googleapis.com/b/o?X-Goog-Signature=0a1b2c3d4e", "0a1b2c3d4e"),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=S3cr3tKey==;EndpointSuffix=x", "S3cr3tKey"),
        ("aws_secret_access_key = wJalrXUtnFEMI", "wJalrXUtnFEMI"),
        ("Authorization: Bearer ya29.tokenvalue", "ya29.tokenvalue"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "MIIEvQIBADANBg"),
        ('{"client_secret": "hunter2hunter2"}', "hunter2hunter2"),
    ],
)
def test_redact_removes_credentials(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "***" in out


def test_redact_keeps_ordinary_text() -> None:
    text = "get s3://bucket/key.txt: no such object"
    assert redact(text) == text


def test_error_messages_are_redacted_and_carry_context() -> None:
    err = NotFound(
        "fetching https://x/y?sig=TOPSECRET failed",
        provider="az",
        operation="get",
        bucket="c",
        key="y",
        request_id="r-1",
        status=404,
    )
    assert "TOPSECRET" not in str(err)
    assert str(err).startswith("get az://c/y: ")
    assert "(request id r-1)" in str(err)
    assert isinstance(err, FileNotFoundError)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is NotFound and str(clone) == str(err) and clone.key == "y"


def test_error_tree_mixes_in_builtins_and_retryability() -> None:
    assert issubclass(AlreadyExists, FileExistsError)
    assert issubclass(PermissionDenied, PermissionError) and issubclass(Unauthenticated, PermissionError)
    assert issubclass(InvalidKey, ValueError) and issubclass(Unsupported, NotImplementedError)
    assert Throttled("x").retryable and TransientError("x").retryable
    assert not PreconditionFailed("x").retryable
    assert TransientError("x", retryable=False).retryable is False


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, None, NotFound),
        (503, "SlowDown", Throttled),
        (503, "ServerBusy", Throttled),
        (503, "InternalError", TransientError),
        (500, None, TransientError),
        (429, None, Throttled),
        (412, None, PreconditionFailed),
        (409, "BlobAlreadyExists", AlreadyExists),
        (401, None, Unauthenticated),
        (403, "SignatureDoesNotMatch", Unauthenticated),
        (403, "AccessDenied", PermissionDenied),
        (400, None, InvalidArgument),
        (None, None, TransientError),
        (418, None, StorageError),
        (408, None, TransientError),
        (200, "NoSuchKey", NotFound),
    ],
)
def test_error_for_status(status: int | None, code: str | None, cls: type[StorageError]) -> None:
    assert error_for_status(status, code) is cls


# -- lazy imports ------------------------------------------------------------------------------------


def test_importing_core_loads_no_cloud_sdk() -> None:
    # A namespace-package .pth (functions-framework) pre-creates empty ``google``/``google.cloud``
    # modules at start-up; only modules that importing the core adds count.
    script = (
        "import sys, tempfile\n"
        "before = set(sys.modules)\n"
        "import core, core.storage\n"
        "from core.storage import open_store\n"
        "open_store('memory://x').put('k', b'v')\n"
        "open_store('file://' + tempfile.mkdtemp()).put('k', b'v')\n"
        "new = set(sys.modules) - before\n"
        "loaded = sorted({m.split('.')[0] for m in new} & {'boto3', 'botocore', 'azure', 'google'})\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_prefetch_yields_in_order_raises_errors_and_stops_its_reader() -> None:
    import threading

    from core.storage.transfer import prefetch

    assert list(prefetch(iter([b"a", b"b", b"c"]), depth=1)) == [b"a", b"b", b"c"]

    def failing() -> Iterator[bytes]:
        yield b"x"
        raise OSError("source connection dropped")

    with pytest.raises(OSError, match="dropped"):
        list(prefetch(failing()))

    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"."

    gen = prefetch(endless(), depth=2)
    next(gen)
    gen.close()  # the consumer gives up: the reader thread must end, having read only a bounded amount
    assert not any(t.name == "circle-prefetch" for t in threading.enumerate())
    assert pulled <= 5


# -- credentials through a resolver the store is given (core.storage never imports core.secrets) ---------


class _Resolver:
    """Answers references from a dict and records each call (what a secrets service would be asked)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls: list[tuple[dict[str, str], bool]] = []

    def __call__(self, references: Mapping[str, str], *, refresh: bool = False) -> dict[str, str]:
        self.calls.append((dict(references), refresh))
        return {option: self.values[ref] for option, ref in references.items()}


def _s3_access_key(store: ObjectStore) -> str:
    return str(store._backend.client._request_signer._credentials.access_key)  # type: ignore[attr-defined]


def _referencing_store(**extra: object) -> ObjectStore:
    return open_store(
        "s3://bucket",
        endpoint_url="http://127.0.0.1:9",  # never contacted: only the client is built
        region="us-east-1",
        access_key_id="secret://vault/key#id",
        secret_access_key="secret://vault/key#secret",
        **extra,  # type: ignore[arg-type]
    )


def test_open_store_resolves_references_with_the_resolver_it_is_given() -> None:
    resolver = _Resolver({"secret://vault/key#id": "AKIDGIVEN", "secret://vault/key#secret": "s3cr3t"})
    with _referencing_store(resolver=resolver) as store:
        assert _s3_access_key(store) == "AKIDGIVEN"
    assert resolver.calls == [
        ({"access_key_id": "secret://vault/key#id", "secret_access_key": "secret://vault/key#secret"}, False)
    ]


def test_an_installed_resolver_serves_stores_opened_without_one() -> None:
    resolver = _Resolver({"secret://vault/key#id": "AKIDINSTALLED", "secret://vault/key#secret": "s3cr3t"})
    previous = install_resolver(resolver)
    try:
        with _referencing_store() as store:
            assert _s3_access_key(store) == "AKIDINSTALLED"
    finally:
        install_resolver(previous)
    assert len(resolver.calls) == 1


def test_storage_loads_the_secrets_package_only_for_a_secret_reference() -> None:
    code = (
        "import sys\n"
        "from core.storage import open_store\n"
        "open_store('memory://plain').put('k', b'v')\n"
        "assert 'core.secrets' not in sys.modules, 'core.storage imported core.secrets'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# -- one error base for storage and secrets, one ETag normaliser ------------------------------------------


def test_storage_and_secrets_errors_share_one_base_and_one_pickling_rule() -> None:
    from core.errors import CircleError
    from core.secrets.errors import SecretNotFound, SecretsError, SecretsTransientError

    storage = TransientError(
        "upstream said password=hunter2", provider="s3", operation="put", bucket="b", key="k", request_id="r-9"
    )
    secret = SecretNotFound("no such secret", provider="aws-sm", operation="get", name="db", code="ResourceNotFound")
    for err in (storage, secret, SecretsTransientError("busy", provider="gcp-sm")):
        assert isinstance(err, CircleError)
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is type(err) and str(clone) == str(err)
        assert vars(clone) == vars(err)  # reason, provider, operation, retryable, request id... all kept
    assert storage.retryable and not secret.retryable
    assert "hunter2" not in storage.reason and "hunter2" not in str(storage)
    assert isinstance(secret, KeyError) and isinstance(secret, SecretsError)
    assert str(secret) == "get aws-sm:db: no such secret [ResourceNotFound]"
    assert redact is __import__("core.errors", fromlist=["redact"]).redact  # one redaction rule


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ('"abc"', "abc"),
        ("abc", "abc"),
        (' "abc" ', "abc"),
        ('W/"abc"', "abc"),
        ('"a-3"', "a-3"),
        # W/ marks a weak tag only before a quoted string (RFC 7232): a bare value starting with W/ is
        # the tag itself (fake-gcs-server's base64 MD5s start with it once in 4096 objects)
        ("W/abc", "W/abc"),
        ('"W/abc"', "W/abc"),
        ("W/BP6+LVXxUmXjJlgeYWCA==", "W/BP6+LVXxUmXjJlgeYWCA=="),
        ('"W/BP6+LVXxUmXjJlgeYWCA=="', "W/BP6+LVXxUmXjJlgeYWCA=="),
        ('W/"W/abc"', "W/abc"),
        # quotes are stripped only as a pair around the whole value
        ('"abc', '"abc'),
        ('abc"', 'abc"'),
        ('"', '"'),
        ('""', None),
        ("", None),
        (None, None),
    ],
)
def test_one_etag_normaliser(given: str | None, canonical: str | None) -> None:
    import core.storage.etag
    from core.etag import quote_etag, unquote_etag
    from core.events.model import unquote_etag as event_etag

    assert unquote_etag(given) == canonical
    assert event_etag(given, "etag") == canonical  # events read ETags by the same rule as stores
    assert core.storage.etag.unquote_etag is unquote_etag  # one normaliser, not a copy
    if canonical and '"' not in canonical:
        assert quote_etag(canonical) == f'"{canonical}"'
        assert quote_etag(quote_etag(canonical)) == quote_etag(canonical)
        assert unquote_etag(quote_etag(canonical)) == canonical  # the wire form reads back as itself
    assert quote_etag("*") == "*"


def test_if_match_accepts_quoted_and_weak_etags() -> None:
    store = open_store("memory://")
    info = store.put("k", b"v")
    assert store.get("k", if_match=f'W/"{info.etag}"').read() == b"v"
    store.put("k", b"w", if_match=f'"{info.etag}"')
    with pytest.raises(PreconditionFailed):
        store.delete("k", if_match=f'"{info.etag}"')


def test_the_write_token_is_reserved_and_never_shown() -> None:
    with pytest.raises(InvalidArgument):
        normalise_metadata({"circle_write_token": "forged"})
