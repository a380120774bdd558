"""Google Cloud Storage (``gs://bucket[/prefix]``) over the google-cloud-storage JSON API client.

Conditions: GCS conditions are on *generations*, our API on ETags. Create-only is
``ifGenerationMatch=0``; compare-and-swap reads the object's metadata, compares its ETag with the
caller's, then writes with ``ifGenerationMatch``/``ifMetagenerationMatch`` of what it read, so a
concurrent change between the read and the write still fails server-side (GCS's ETag is a function
of generation and metageneration). SDK retries are off (``retry=None`` on every call); the shared
``RetryPolicy`` in ``Backend.call`` retries instead.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import google.auth.exceptions as gauth_exc
import requests
import urllib3.exceptions
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials, Credentials, Signing
from google.cloud.exceptions import from_http_response
from google.cloud.storage import Blob, Client
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.oauth2 import service_account

from ..api import (
    Backend,
    Body,
    ByteRange,
    CommonPrefix,
    DeleteFailure,
    ListPage,
    ObjectInfo,
    ObjectReader,
    PresignMethod,
    WriteOptions,
)
from ..capabilities import Capabilities
from ..errors import (
    AlreadyExists,
    IntegrityError,
    InvalidArgument,
    NotFound,
    PreconditionFailed,
    StorageError,
    Throttled,
    TransientError,
    Unauthenticated,
    Unsupported,
    error_for_status,
)
from ._common import b64_to_hex

T = TypeVar("T")
KiB = 1024
MiB = 1024 * KiB
TiB = 1024 * 1024 * MiB
CHUNK = 1 * MiB  # read chunk handed to ObjectReader
PART_MULTIPLE = 256 * KiB  # resumable chunks must be multiples of this
DEFAULT_PART_SIZE = 32 * MiB  # bigger chunks upload much faster (fewer round trips)
SINGLE_MAX = 8 * MiB  # the SDK's limit for one-request (multipart/related) uploads
DELETE_WORKERS = 8  # concurrent single deletes in delete_many (within requests' pool of 10)
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONTENT_TYPE = "application/octet-stream"
SCOPES = ["https://www.googleapis.com/auth/devstorage.full_control"]
OPTIONS = frozenset({"endpoint_url", "project", "anonymous", "credentials", "credentials_file",
                     "signing_credentials", "part_size", "timeout"})
_THROTTLE_REASONS = {"ratelimitexceeded", "userratelimitexceeded", "toomanyrequests"}
_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                     requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError,
                     ConnectionError, TimeoutError, gauth_exc.TransportError)


class GCSBackend(Backend):
    """One GCS bucket. Options: ``endpoint_url``, ``project``, ``anonymous``, ``credentials``,
    ``credentials_file``, ``signing_credentials``, ``part_size`` (bytes, multiple of 256 KiB),
    ``timeout`` (seconds). Environment: ``STORAGE_EMULATOR_HOST``, ``GOOGLE_CLOUD_PROJECT``,
    ``GOOGLE_APPLICATION_CREDENTIALS`` (read by the SDK / google.auth)."""

    provider: ClassVar[str] = "gs"
    capabilities = Capabilities(
        write_multi_min_size=PART_MULTIPLE,
        write_multi_max_size=5 * TiB,
        write_multi_max_parts=(5 * TiB) // PART_MULTIPLE,  # no part limit; bounded by the 5 TiB object
        delete_many_max=100,  # GCS's batch limit; done as concurrent single deletes (see delete_many)
        list_max_page_size=1000,
        presign_read=True,
        presign_write=True,
        versioning=True,  # version = generation
        checksums=frozenset({"md5", "crc32c"}),
    )

    def __init__(self, bucket: str, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise InvalidArgument(f"unknown gs:// store options: {', '.join(unknown)}", provider=self.provider,
                                  bucket=bucket)
        self.bucket = bucket
        self.part_size = _part_size(options.get("part_size", DEFAULT_PART_SIZE))
        seconds = _positive_float(options.get("timeout", DEFAULT_TIMEOUT), "timeout")
        self.timeout: tuple[float, float] = (min(10.0, seconds), seconds)  # (connect, read)
        credentials, file_project = self._credentials(options)
        self._signer = self._signing_credentials(options, credentials)
        self.client = self._client(options, credentials, file_project)
        self._bucket = self.client.bucket(bucket)
        self._bucket_known = False

    # -- setup --------------------------------------------------------------------------------------------
    def _credentials(self, options: Mapping[str, Any]) -> tuple[Credentials | None, str | None]:
        """Anonymous, a credentials object, a key file, or None (google.auth's default chain)."""
        given = [name for name in ("credentials", "credentials_file") if options.get(name) is not None]
        if options.get("anonymous"):
            given.insert(0, "anonymous")
        if len(given) > 1:
            raise InvalidArgument(f"gs:// store options {' and '.join(given)} cannot be combined",
                                  provider=self.provider, bucket=self.bucket)
        if options.get("anonymous"):
            return AnonymousCredentials(), None
        if options.get("credentials") is not None:
            creds = options["credentials"]
            if not isinstance(creds, Credentials):
                raise InvalidArgument("credentials must be a google.auth Credentials object",
                                      provider=self.provider, bucket=self.bucket)
            return creds, None
        if options.get("credentials_file") is not None:
            try:
                creds = service_account.Credentials.from_service_account_file(
                    os.fspath(options["credentials_file"]), scopes=SCOPES)
            except (OSError, ValueError, KeyError, gauth_exc.GoogleAuthError) as exc:
                # the exception's type only: key parsers may quote the file's content
                raise Unauthenticated(f"cannot load credentials_file as a service-account key "
                                      f"({type(exc).__name__})", provider=self.provider, bucket=self.bucket) from None
            return creds, creds.project_id
        return None, None

    def _signing_credentials(self, options: Mapping[str, Any], credentials: Credentials | None) -> Any:
        signer = options.get("signing_credentials")
        if signer is not None and not isinstance(signer, Signing):
            raise InvalidArgument("signing_credentials must be able to sign (a service-account credential)",
                                  provider=self.provider, bucket=self.bucket)
        if signer is None and isinstance(credentials, Signing):
            signer = credentials
        return signer

    def _client(self, options: Mapping[str, Any], credentials: Credentials | None,
                file_project: str | None) -> Client:
        project = options.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT") or file_project
        kwargs: dict[str, Any] = {"credentials": credentials}
        if project or isinstance(credentials, AnonymousCredentials):
            kwargs["project"] = project or None  # None = "no project" (anonymous needs none)
        if options.get("endpoint_url"):
            kwargs["client_options"] = {"api_endpoint": str(options["endpoint_url"]).rstrip("/")}
        try:
            return Client(**kwargs)
        except gauth_exc.GoogleAuthError as exc:
            raise Unauthenticated(f"no usable Google credentials: {type(exc).__name__}",
                                  provider=self.provider, bucket=self.bucket) from None

    def close(self) -> None:
        self.client.close()

    # -- errors -------------------------------------------------------------------------------------------
    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        where: dict[str, Any] = {"provider": self.provider, "operation": operation, "bucket": self.bucket,
                                 "key": key}
        if isinstance(exc, gexc.GoogleAPICallError):
            status = int(exc.code) if exc.code is not None else None
            reason = _reason(exc)
            cls = Throttled if reason.lower() in _THROTTLE_REASONS else error_for_status(status, reason)
            return cls(exc.message or type(exc).__name__, status=status,
                       request_id=_request_id(getattr(exc, "response", None)), **where)
        if isinstance(exc, DataCorruption):
            return IntegrityError(str(exc.args[0] if exc.args else exc), **where)
        if isinstance(exc, InvalidResponse):
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", None)
            return error_for_status(status)(f"unexpected HTTP {status} response", status=status,
                                            request_id=_request_id(response), **where)
        if isinstance(exc, _TRANSPORT_ERRORS):
            return TransientError(f"{type(exc).__name__}: {exc}", **where)
        if isinstance(exc, gauth_exc.GoogleAuthError):
            return Unauthenticated(f"Google credentials failed: {type(exc).__name__}: {exc}", **where)
        return StorageError(f"{type(exc).__name__}: {exc}", **where)

    def _error(self, cls: type[StorageError], message: str, operation: str, key: str | None) -> StorageError:
        return cls(message, provider=self.provider, operation=operation, bucket=self.bucket, key=key)

    # -- reads --------------------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        return self._info(self._reload(key))

    def _reload(self, key: str) -> Blob:
        blob = self._bucket.blob(key)
        blob.reload(projection="noAcl", timeout=self.timeout, retry=None)
        return blob

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        """Stream the object with one ``alt=media`` request through the client's authorized session.

        The SDK's own readers either buffer the whole object (``download_as_bytes``), write into a file
        (``download_to_file``) or issue one request per chunk (``blob.open("rb")``); a single streamed
        response keeps memory at one chunk and gives the object's headers (ETag, generation, hashes,
        metadata) with the bytes, so ``info`` needs no extra request and ``if_match`` is checked
        against the very response being read.
        """
        headers = {"Accept-Encoding": "gzip"}
        if rng is not None:
            headers["Range"] = rng.http_header()
        url = (f"{self.client.api_endpoint}/download/storage/v1/b/{quote(self.bucket, safe='')}"
               f"/o/{quote(key, safe='')}?alt=media")
        resp = self.client._http.request("GET", url, headers=headers, stream=True, timeout=self.timeout)
        if resp.status_code == 416:
            resp.close()
            info = self.head(key)
            self._check_etag(info, if_match, "get", key)
            return ObjectReader([], info)
        if resp.status_code >= 400:
            try:
                raise from_http_response(resp)
            finally:
                resp.close()
        info = _info_from_headers(key, resp.headers)
        try:
            self._check_etag(info, if_match, "get", key)
        except StorageError:
            resp.close()
            raise
        # Stored bytes: decode only a transport encoding the server added (the stored encoding is identity).
        decode = resp.headers.get("x-goog-stored-content-encoding", "identity") == "identity"
        chunks = resp.raw.stream(CHUNK, decode_content=decode)
        return ObjectReader(chunks, info, close=resp.close, translate=lambda e: self.translate(e, "get", key))

    def _check_etag(self, info: ObjectInfo, if_match: str | None, operation: str, key: str) -> None:
        if if_match is not None and info.etag != if_match:
            raise self._error(PreconditionFailed, "the object's ETag does not match", operation, key)

    def _generation_conditions(self, key: str, if_match: str, operation: str) -> dict[str, int]:
        """ETag -> the generation/metageneration to make the following write conditional on."""
        current = self._reload(key)
        self._check_etag(self._info(current), if_match, operation, key)
        return {"if_generation_match": int(current.generation or 0),
                "if_metageneration_match": int(current.metageneration or 0)}

    def _ensure_absent(self, key: str, operation: str) -> None:
        """Fail fast before a long transfer; the server-side ``ifGenerationMatch=0`` stays the guarantee."""
        if self._bucket.blob(key).exists(timeout=self.timeout, retry=None):
            raise self._error(AlreadyExists, "the object exists", operation, key)

    # -- writes -------------------------------------------------------------------------------------------
    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        blob = self._bucket.blob(key)
        if opts.metadata:
            blob.metadata = dict(opts.metadata)
        content_type = opts.content_type or DEFAULT_CONTENT_TYPE
        cond: dict[str, int] = {}
        if opts.if_none_match:
            cond["if_generation_match"] = 0
        if opts.if_match:
            if_match = opts.if_match
            cond = self.call("put", key, lambda: self._generation_conditions(key, if_match, "put"))
        data = body.read_whole(min(SINGLE_MAX, self.part_size))
        if data is not None:
            self._conditional("put", key, opts.if_none_match, lambda: blob.upload_from_string(
                data, content_type=content_type, timeout=self.timeout, retry=None, **cond))
            return self._info(blob)
        if opts.if_none_match:
            self.call("put", key, lambda: self._ensure_absent(key, "put"))
        blob.chunk_size = self.part_size
        stream = _PartStream(body.parts(self.part_size))
        try:
            self._conditional("put", key, opts.if_none_match, lambda: blob.upload_from_file(
                stream, content_type=content_type, timeout=self.timeout, retry=None, **cond), retryable=False)
        except StorageError:
            if stream.error is not None:  # the caller's iterable failed: raise its own error
                raise stream.error from None
            raise
        return self._info(blob)

    def _conditional(self, operation: str, key: str, create_only: bool, fn: Callable[[], T], *,
                     retryable: bool = True) -> T:
        """``self.call``, except that a create-only write's 412 is ``AlreadyExists``."""
        try:
            return self.call(operation, key, fn, retryable=retryable)
        except PreconditionFailed as exc:
            if not create_only:
                raise
            raise AlreadyExists("the object exists", provider=self.provider, operation=operation,
                                bucket=self.bucket, key=key, status=exc.status,
                                request_id=exc.request_id) from exc

    def delete(self, key: str, if_match: str | None) -> None:
        cond = self._generation_conditions(key, if_match, "delete") if if_match else {}
        try:
            self._bucket.blob(key).delete(timeout=self.timeout, retry=None, **cond)
        except gexc.NotFound:
            if if_match:
                raise
            self._require_bucket("delete", key)

    def _require_bucket(self, operation: str, key: str | None) -> None:
        """A missing key is fine to delete, a missing bucket is not (GCS answers 404 to both)."""
        if self._bucket_known:
            return
        try:
            exists = self._bucket.exists(timeout=self.timeout, retry=None)
        except gexc.Forbidden:
            exists = True  # object-only permissions: cannot tell, and the delete was not refused
        if not exists:
            raise self._error(NotFound, f"the bucket {self.bucket!r} does not exist", operation, key)
        self._bucket_known = True

    def delete_many(self, keys: list[str]) -> list[DeleteFailure]:
        """Concurrent single deletes: the JSON batch endpoint (100 calls a request) is not served by
        fake-gcs-server, and concurrent requests get most of a batch's speed-up."""
        if not keys:
            return []

        def one(key: str) -> DeleteFailure | None:
            try:
                self.call("delete", key, lambda: self.delete(key, None))
            except StorageError as exc:
                return DeleteFailure(key, exc)
            return None

        with ThreadPoolExecutor(max_workers=min(DELETE_WORKERS, len(keys))) as pool:
            return [f for f in pool.map(one, keys) if f is not None]

    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo:
        """Server-side rewrite (loops on the rewrite token for large objects); content type and
        metadata travel with the object."""
        if if_none_match:
            self._ensure_absent(dst_key, "copy")
        src = self._bucket.blob(src_key)
        dst = self._bucket.blob(dst_key)
        cond = {"if_generation_match": 0} if if_none_match else {}
        token: str | None = None
        try:
            while True:
                token, _, _ = dst.rewrite(src, token=token, timeout=self.timeout, retry=None, **cond)
                if token is None:
                    break
        except gexc.NotFound as exc:  # name the source, which is what is missing (or the bucket)
            raise NotFound(f"the source object or the bucket does not exist: {exc.message}",
                           provider=self.provider, operation="copy", bucket=self.bucket, key=src_key,
                           status=404) from exc
        except gexc.PreconditionFailed:
            if not if_none_match:
                raise
            raise self._error(AlreadyExists, "the object exists", "copy", dst_key) from None
        return self._info(dst)

    # -- listing ------------------------------------------------------------------------------------------
    def list_page(self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None,
                  start_after: str | None) -> ListPage:
        """One page of ``objects.list`` holding at most ``page_size`` entries.

        ``startOffset`` is inclusive, so the ``start_after`` key itself is dropped (one more entry is
        asked for to make up for it). GCS counts items and
        prefixes together against ``maxResults``; a server that returns more (fake-gcs-server counts
        only items) is trimmed here, and the page then resumes from its last entry with ``startOffset``.
        Tokens are ``n:<native page token>``, ``o:<last object key>`` or ``p:<last common prefix>``.
        """
        size = page_size or 1000
        offset, drop, native = start_after or None, start_after, None
        if token:
            kind, _, value = token.partition(":")
            if kind == "n" and value:
                native = value
            elif kind == "o" and value:
                offset = drop = value
            elif kind == "p" and value:
                offset, drop = _after_prefix(value), value
            else:
                raise self._error(InvalidArgument, "the list token does not come from a gs:// listing",
                                  "list", prefix)
        iterator = self.client.list_blobs(self._bucket, prefix=prefix or None, delimiter=delimiter or None,
                                          page_size=min(1000, size + (drop is not None)),
                                          page_token=native, start_offset=offset,
                                          timeout=self.timeout, retry=None)
        page = next(iterator.pages)
        entries: list[ObjectInfo | CommonPrefix] = [self._info(b) for b in page if b.name != drop]
        entries += [CommonPrefix(p) for p in page.prefixes if p != drop]
        entries.sort(key=lambda e: e.key if isinstance(e, ObjectInfo) else e.prefix)
        next_token = f"n:{iterator.next_page_token}" if iterator.next_page_token else None
        if len(entries) > size:
            entries = entries[:size]
            last = entries[-1]
            next_token = f"p:{last.prefix}" if isinstance(last, CommonPrefix) else f"o:{last.key}"
        return ListPage([e for e in entries if isinstance(e, ObjectInfo)],
                        [e for e in entries if isinstance(e, CommonPrefix)], next_token)

    # -- presign ------------------------------------------------------------------------------------------
    def presign(self, key: str, method: PresignMethod, expires: int, content_type: str | None) -> str:
        """A V4 signed URL, signed locally with a service-account key (``signing_credentials`` or a
        service-account ``credentials``/``credentials_file``)."""
        if self._signer is None:
            raise self._error(Unsupported, "presigning needs a service-account credential with a private "
                              "key (signing_credentials=, credentials= or credentials_file=)", "presign", key)
        kwargs: dict[str, Any] = {"version": "v4", "expiration": timedelta(seconds=expires), "method": method,
                                  "credentials": self._signer}
        if method == "PUT" and content_type:
            kwargs["content_type"] = content_type
        url: str = self._bucket.blob(key).generate_signed_url(**kwargs)
        return url

    # -- ObjectInfo ---------------------------------------------------------------------------------------
    def _info(self, blob: Blob) -> ObjectInfo:
        checksums: dict[str, str] = {}
        md5 = b64_to_hex(blob.md5_hash)
        if md5:
            checksums["md5"] = md5
        if blob.crc32c:
            checksums["crc32c"] = blob.crc32c
        return ObjectInfo(key=blob.name, size=int(blob.size or 0), etag=_unquote(blob.etag),
                          last_modified=_utc(blob.updated), content_type=blob.content_type,
                          metadata={k.lower(): v for k, v in (blob.metadata or {}).items()},
                          version=str(blob.generation) if blob.generation else None, checksums=checksums)

    def __repr__(self) -> str:
        return f"GCSBackend({self.describe()!r})"


class _PartStream(io.RawIOBase):
    """A forward-only file over ``Body.parts`` for the SDK's resumable upload (which reads one chunk of
    ``chunk_size`` bytes at a time and checks ``tell()``), holding at most one part in memory.

    An exception from the caller's data is kept in ``error`` so ``put`` can re-raise it unchanged.
    """

    def __init__(self, parts: Iterator[bytes]) -> None:
        super().__init__()
        self._parts = parts
        self._buffer = b""
        self._position = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        want = size if size is not None and size >= 0 else None
        pieces = []
        have = 0
        while want is None or have < want:
            if not self._buffer:
                try:
                    self._buffer = next(self._parts)
                except StopIteration:
                    break
                except BaseException as exc:
                    self.error = exc
                    raise
            take = len(self._buffer) if want is None else min(want - have, len(self._buffer))
            pieces.append(self._buffer[:take])
            self._buffer = self._buffer[take:]
            have += take
        out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._position += len(out)
        return out

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


# -- helpers ----------------------------------------------------------------------------------------------
def _info_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """ObjectInfo from an ``alt=media`` response (x-goog-* headers carry what the JSON resource has)."""
    size = int(headers.get("x-goog-stored-content-length") or headers.get("Content-Length") or 0)
    content_range = headers.get("Content-Range") or ""
    if "/" in content_range and not content_range.endswith("*"):
        size = int(content_range.rsplit("/", 1)[1])
    checksums: dict[str, str] = {}
    for item in (headers.get("x-goog-hash") or "").split(","):
        kind, _, value = item.strip().partition("=")
        if kind == "md5" and value:
            checksums["md5"] = b64_to_hex(value) or ""
        elif kind == "crc32c" and value:
            checksums["crc32c"] = value
    metadata = {k[len("x-goog-meta-"):].lower(): v for k, v in headers.items()
                if k.lower().startswith("x-goog-meta-")}
    modified = headers.get("Last-Modified")
    return ObjectInfo(key=key, size=size, etag=_unquote(headers.get("ETag")),
                      last_modified=_utc(parsedate_to_datetime(modified)) if modified else None,
                      content_type=headers.get("Content-Type"), metadata=metadata,
                      version=headers.get("x-goog-generation") or None, checksums=checksums)


def _reason(exc: gexc.GoogleAPICallError) -> str:
    errors = exc.errors or []
    first = errors[0] if errors else None
    return str(first.get("reason") or "") if isinstance(first, Mapping) else ""


def _request_id(response: Any) -> str | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("X-GUploader-UploadID") or headers.get("x-goog-request-id")
    return str(value) if value else None


def _after_prefix(prefix: str) -> str:
    """The smallest name after every name that starts with ``prefix`` (its last character + 1)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _unquote(etag: str | None) -> str | None:
    return etag.strip().strip('"') if etag else None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _part_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < PART_MULTIPLE or value % PART_MULTIPLE:
        raise InvalidArgument(f"part_size must be a positive multiple of {PART_MULTIPLE} bytes (256 KiB), "
                              f"got {value!r}", provider=GCSBackend.provider)
    return value


def _positive_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:
        raise InvalidArgument(f"{name} must be a positive number of seconds, got {value!r}",
                              provider=GCSBackend.provider)
    return number
