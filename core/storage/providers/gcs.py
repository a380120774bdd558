"""Google Cloud Storage (``gs://bucket[/prefix]``) over the google-cloud-storage JSON API client.

Conditions: GCS conditions are on *generations*, our API on ETags. Create-only is
``ifGenerationMatch=0``; compare-and-swap reads the object's metadata, compares its ETag with the
caller's, then writes with ``ifGenerationMatch``/``ifMetagenerationMatch`` of what it read, so a
concurrent change between the read and the write still fails server-side (GCS's ETag is a function
of generation and metageneration). SDK retries are off (``retry=None`` on every call); the shared
``RetryPolicy`` in ``Backend.call`` retries instead.
"""

from __future__ import annotations

import dataclasses
import io
import os
import uuid
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
from google.cloud.storage import Blob, Client
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.oauth2 import service_account

from ..api import (
    WRITE_TOKEN,
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
from ..etag import unquote_etag
from ..options import GCSOptions, backend_options
from . import gcs_media
from ._common import b64_to_hex

T = TypeVar("T")
KiB = 1024
MiB = 1024 * KiB
TiB = 1024 * 1024 * MiB
CHUNK = 1 * MiB  # read chunk handed to ObjectReader
PART_MULTIPLE = 256 * KiB  # resumable chunks must be multiples of this
DEFAULT_PART_SIZE = 24 * MiB  # fewer round trips upload much faster; 24 MiB keeps a copy under 64 MiB RSS
SINGLE_MAX = 8 * MiB  # the SDK's limit for one-request (multipart/related) uploads
DELETE_WORKERS = 8  # concurrent single deletes in delete_many (within requests' pool of 10)
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONTENT_TYPE = "application/octet-stream"
SCOPES = ["https://www.googleapis.com/auth/devstorage.full_control"]
_THROTTLE_REASONS = {"ratelimitexceeded", "userratelimitexceeded", "toomanyrequests"}
_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
    gauth_exc.TransportError,
)


class GCSBackend(Backend):
    """One GCS bucket. Options: ``endpoint_url``, ``project``, ``anonymous``, ``credentials``,
    ``credentials_file``, ``signing_credentials``, ``part_size`` (bytes, multiple of 256 KiB),
    ``connect_timeout``/``read_timeout`` (seconds; ``timeout`` is GCS's name for the read timeout), see
    ``core.storage.options.GCSOptions``. Environment: ``STORAGE_EMULATOR_HOST``, ``GOOGLE_CLOUD_PROJECT``,
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
        opts = backend_options(GCSOptions, options, self.provider)  # types, part multiple, exclusive credentials
        self.bucket = bucket
        self.part_size = opts.part_size
        self.timeout: tuple[float, float] = (opts.connect_timeout, opts.read_timeout)
        credentials, file_project = self._credentials(opts)
        self._signer = self._signing_credentials(opts, credentials)
        self.client = self._client(opts, credentials, file_project)
        self._bucket = self.client.bucket(bucket)
        self._bucket_known = False
        self._media = gcs_media.MediaDownloads(self.client._http, self.client.api_endpoint, self.timeout)

    # -- setup --------------------------------------------------------------------------------------------
    def _credentials(self, opts: GCSOptions) -> tuple[Credentials | None, str | None]:
        """Anonymous, a credentials object, a key file, or None (google.auth's default chain);
        ``GCSOptions.validate`` has refused combinations."""
        if opts.anonymous:
            return AnonymousCredentials(), None
        if opts.credentials is not None:
            creds = opts.credentials
            if not isinstance(creds, Credentials):
                raise InvalidArgument(
                    "credentials must be a google.auth Credentials object", provider=self.provider, bucket=self.bucket
                )
            return creds, None
        if opts.credentials_file is not None:
            try:
                creds = service_account.Credentials.from_service_account_file(
                    os.fspath(opts.credentials_file), scopes=SCOPES
                )
            except (OSError, ValueError, KeyError, gauth_exc.GoogleAuthError) as exc:
                # the exception's type only: key parsers may quote the file's content
                raise Unauthenticated(
                    f"cannot load credentials_file as a service-account key ({type(exc).__name__})",
                    provider=self.provider,
                    bucket=self.bucket,
                ) from None
            return creds, creds.project_id
        return None, None

    def _signing_credentials(self, opts: GCSOptions, credentials: Credentials | None) -> Any:
        signer = opts.signing_credentials
        if signer is not None and not isinstance(signer, Signing):
            raise InvalidArgument(
                "signing_credentials must be able to sign (a service-account credential)",
                provider=self.provider,
                bucket=self.bucket,
            )
        if signer is None and isinstance(credentials, Signing):
            signer = credentials
        return signer

    def _client(self, opts: GCSOptions, credentials: Credentials | None, file_project: str | None) -> Client:
        project = opts.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or file_project
        kwargs: dict[str, Any] = {"credentials": credentials}
        if project or isinstance(credentials, AnonymousCredentials):
            kwargs["project"] = project or None  # None = "no project" (anonymous needs none)
        if opts.endpoint_url:
            kwargs["client_options"] = {"api_endpoint": opts.endpoint_url.rstrip("/")}
        try:
            client = Client(**kwargs)
        except gauth_exc.GoogleAuthError as exc:
            raise Unauthenticated(
                f"no usable Google credentials: {type(exc).__name__}", provider=self.provider, bucket=self.bucket
            ) from None
        # Since 3.x the client fetches bucket metadata (a background ``buckets.get`` with the SDK's own
        # retries) on first use of a bucket, only to label OpenTelemetry spans. That request ignores
        # ``retry=None`` and the shared RetryPolicy, needs ``storage.buckets.get`` and makes request
        # counts racy; every SDK use of the cache is guarded by its truthiness, so None turns it off.
        client._bucket_metadata_cache = None
        return client

    def close(self) -> None:
        self._media.close()
        self.client.close()

    # -- errors -------------------------------------------------------------------------------------------
    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        where: dict[str, Any] = {"provider": self.provider, "operation": operation, "bucket": self.bucket, "key": key}
        if isinstance(exc, gexc.GoogleAPICallError):
            status = int(exc.code) if exc.code is not None else None
            reason = _reason(exc)
            cls = Throttled if reason.lower() in _THROTTLE_REASONS else error_for_status(status, reason)
            return cls(
                exc.message or type(exc).__name__,
                status=status,
                request_id=_request_id(getattr(exc, "response", None)),
                **where,
            )
        if isinstance(exc, DataCorruption):
            return IntegrityError(str(exc.args[0] if exc.args else exc), **where)
        if isinstance(exc, InvalidResponse):
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", None)
            return error_for_status(status)(
                f"unexpected HTTP {status} response", status=status, request_id=_request_id(response), **where
            )
        if isinstance(exc, _TRANSPORT_ERRORS):
            return TransientError(f"{type(exc).__name__}: {exc}", **where)
        if isinstance(exc, gauth_exc.GoogleAuthError):
            return Unauthenticated(f"Google credentials failed: {type(exc).__name__}: {exc}", **where)
        return StorageError(f"{type(exc).__name__}: {exc}", **where)

    def _error(self, cls: type[StorageError], message: str, operation: str, key: str | None) -> StorageError:
        return cls(message, provider=self.provider, operation=operation, bucket=self.bucket, key=key)

    # -- reads --------------------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        return self._info(self.call("head", key, lambda: self._reload(key)))

    def _reload(self, key: str) -> Blob:
        blob = self._bucket.blob(key)
        blob.reload(projection="noAcl", timeout=self.timeout, retry=None)
        return blob

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        """Stream the object with one ``alt=media`` request (``gcs_media``: urllib3, the client's credentials).

        The SDK's own readers either buffer the whole object (``download_as_bytes``), write into a file
        (``download_to_file``) or issue one request per chunk (``blob.open("rb")``); a single streamed
        response keeps memory at one chunk and gives the object's headers (ETag, generation, hashes,
        metadata) with the bytes, so ``info`` needs no extra request and ``if_match`` is checked
        against the very response being read.
        """
        headers = {"Accept-Encoding": "gzip"}
        if rng is not None:
            headers["Range"] = rng.http_header()
        url = (
            f"{self.client.api_endpoint}/download/storage/v1/b/{quote(self.bucket, safe='')}"
            f"/o/{quote(key, safe='')}?alt=media"
        )

        resp = self.call("get", key, lambda: self._media.get(url, headers))
        if resp.status == 416:  # the range starts past the end: an empty read of an existing object
            gcs_media.close(resp)
            info = self.head(key)
            self._check_etag(info, if_match, "get", key)
            return ObjectReader([], info)
        info = _info_from_headers(key, resp.headers)
        try:
            self._check_etag(info, if_match, "get", key)
        except StorageError:
            gcs_media.close(resp)
            raise
        # Stored bytes: decode only a transport encoding the server added (the stored encoding is identity).
        decode = resp.headers.get("x-goog-stored-content-encoding", "identity") == "identity"
        chunks = resp.stream(CHUNK, decode_content=decode)
        return ObjectReader(
            chunks, info, close=lambda: gcs_media.close(resp), translate=lambda e: self.translate(e, "get", key)
        )

    def _check_etag(self, info: ObjectInfo, if_match: str | None, operation: str, key: str) -> None:
        if if_match is not None and info.etag != if_match:
            raise self._error(PreconditionFailed, "the object's ETag does not match", operation, key)

    def _generation_conditions(self, key: str, if_match: str, operation: str) -> dict[str, int]:
        """ETag -> the generation/metageneration to make the following write conditional on."""
        current = self.call(operation, key, lambda: self._reload(key))
        self._check_etag(self._info(current), if_match, operation, key)
        return {
            "if_generation_match": int(current.generation or 0),
            "if_metageneration_match": int(current.metageneration or 0),
        }

    def _ensure_absent(self, key: str, operation: str) -> None:
        """Fail fast before a long transfer; the server-side ``ifGenerationMatch=0`` stays the guarantee."""
        if self.call(operation, key, lambda: self._bucket.blob(key).exists(timeout=self.timeout, retry=None)):
            raise self._error(AlreadyExists, "the object exists", operation, key)

    # -- writes -------------------------------------------------------------------------------------------
    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        blob = self._bucket.blob(key)
        metadata = dict(opts.metadata)
        content_type = opts.content_type or DEFAULT_CONTENT_TYPE
        cond: dict[str, int] = {}
        if opts.if_none_match:
            cond["if_generation_match"] = 0
        if opts.if_match:
            cond = self._generation_conditions(key, opts.if_match, "put")
        resolved: list[ObjectInfo] = []
        resolve: Callable[[StorageError], Any] | None = None
        if cond:  # a conditional write carries a token to recognise it by if its answer is lost
            token = uuid.uuid4().hex
            metadata[WRITE_TOKEN] = token

            def resolve(error: StorageError) -> Any:
                resolved.append(self.written_by(key, token, error))

        if metadata:
            blob.metadata = metadata
        data = body.read_whole(min(SINGLE_MAX, self.part_size))
        if data is not None:
            self._conditional(
                "put",
                key,
                opts.if_none_match,
                lambda: blob.upload_from_string(
                    data, content_type=content_type, timeout=self.timeout, retry=None, **cond
                ),
                resolve=resolve,
            )
            if resolved:
                return dataclasses.replace(resolved[0], metadata=dict(opts.metadata))
            return self._without_token(self._info(blob))
        if opts.if_none_match:
            self._ensure_absent(key, "put")
        stream = _PartStream(body.parts(self.part_size))
        try:
            self._resumable_upload(blob, key, stream, content_type, cond, opts.if_none_match, resolve)
        except StorageError:
            if stream.error is not None:  # the caller's iterable failed: raise its own error
                raise stream.error from None
            raise
        if resolved:
            return dataclasses.replace(resolved[0], metadata=dict(opts.metadata))
        return self._without_token(self._info(blob))

    @staticmethod
    def _without_token(info: ObjectInfo) -> ObjectInfo:
        if WRITE_TOKEN not in info.metadata:
            return info
        return dataclasses.replace(info, metadata={k: v for k, v in info.metadata.items() if k != WRITE_TOKEN})

    def _resumable_upload(
        self,
        blob: Blob,
        key: str,
        stream: _PartStream,
        content_type: str,
        cond: Mapping[str, int],
        create_only: bool,
        resolve: Callable[[StorageError], Any] | None = None,
    ) -> None:
        """A resumable upload, one chunk (= one part) per request, each request retried by ``self.call``.

        The session is started the way ``Blob.upload_from_file`` starts it (same URL, metadata, conditions
        and crc32c check), but the chunk loop is ours: the SDK's loop can only retry with its own policy.
        After a failed chunk, ``recover`` asks the session what it committed (an empty PUT with
        ``Content-Range: bytes */*``) and rewinds the stream there; the chunk is then resent from the
        part kept in memory. So a retried chunk costs two requests: the status query and the resend.
        Nothing is committed until the final chunk is acknowledged, so a failed upload leaves no object.
        """
        upload, transport = self._conditional(
            "put",
            key,
            create_only,
            lambda: blob._initiate_resumable_upload(
                self.client,
                stream,
                content_type,
                None,
                chunk_size=self.part_size,
                timeout=self.timeout,
                checksum="auto",
                retry=None,
                **cond,
            ),
        )
        failed = False  # the previous attempt did not get its chunk acknowledged

        def send_chunk() -> Any:
            """One attempt: (status query and rewind,) then the next chunk. The final answer, or None."""
            nonlocal failed
            if failed:
                try:
                    upload.recover(transport)  # seeks the stream to the committed offset
                except InvalidResponse as exc:
                    if getattr(exc.response, "status_code", None) not in (200, 201):
                        raise
                    return self._closed_session(key, stream, exc.response)
                failed = False
            if stream.tell() != upload.bytes_uploaded:  # the server kept only part of the last chunk
                stream.seek(upload.bytes_uploaded)
            failed = True
            try:
                response = upload.transmit_next_chunk(transport, timeout=self.timeout)
            except Exception as exc:
                if stream.error is not None:  # the caller's data failed: nothing to retry
                    raise self._error(StorageError, "the put body failed", "put", key) from exc
                raise
            failed = False
            return response if upload.finished else None

        resolved = False

        def read_back(error: StorageError) -> Any:
            """A conditional upload's final chunk committed but its answer was lost, and the session is
            gone (404) or the re-sent chunk failed its condition: ``resolve`` finds our token (or raises)."""
            nonlocal resolved
            if resolve is None:
                raise error
            resolve(error)
            resolved = True
            return True

        response: Any = None
        try:
            while response is None:
                response = self._conditional(
                    "put", key, create_only, send_chunk, resolve=read_back if resolve is not None else None
                )
        except IntegrityError as exc:
            if isinstance(exc.__cause__, DataCorruption):
                self._discard(key, exc.__cause__.response)
            raise
        if resolved:
            return
        blob._set_properties(response.json())  # what upload_from_file does with the final answer

    def _closed_session(self, key: str, stream: _PartStream, response: Any) -> Any:
        """The status query found the session closed with an object: the final chunk was committed but its
        answer was lost (GCS checked the crc32c sent with it), unless the object is short of what was sent."""
        if stream.exhausted and int(response.json().get("size", -1)) == stream.tell():
            return response
        self._discard(key, response)
        raise self._error(IntegrityError, "the upload session was closed before all data was sent", "put", key)

    def _discard(self, key: str, response: Any) -> None:
        """Delete the object an upload created although it is wrong (as ``upload_from_file`` does on a
        checksum mismatch), only in the generation named by the upload's answer."""
        try:
            generation = int(response.json()["generation"])
            self._bucket.blob(key).delete(if_generation_match=generation, timeout=self.timeout, retry=None)
        except Exception:  # best effort: the IntegrityError is what the caller must see
            pass

    def _conditional(
        self,
        operation: str,
        key: str,
        create_only: bool,
        fn: Callable[[], T],
        *,
        retryable: bool = True,
        resolve: Callable[[StorageError], T] | None = None,
    ) -> T:
        """``self.call``, except that a create-only write's 412 is ``AlreadyExists``."""
        try:
            return self.call(operation, key, fn, retryable=retryable, resolve=resolve)
        except PreconditionFailed as exc:
            if not create_only:
                raise
            raise AlreadyExists(
                "the object exists",
                provider=self.provider,
                operation=operation,
                bucket=self.bucket,
                key=key,
                status=exc.status,
                request_id=exc.request_id,
            ) from exc

    def delete(self, key: str, if_match: str | None) -> None:
        cond = self._generation_conditions(key, if_match, "delete") if if_match else {}

        def request() -> None:
            try:
                self._bucket.blob(key).delete(timeout=self.timeout, retry=None, **cond)
            except gexc.NotFound:
                if if_match:
                    raise
                self._require_bucket("delete", key)

        self.call("delete", key, request, resolve=(lambda error: self.deleted(key, error)) if if_match else None)

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
                self.delete(key, None)
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
        resolved: list[ObjectInfo] = []

        def resolve(error: StorageError) -> Any:
            resolved.append(self.copied(src_key, dst_key, error))
            return None, None, None

        try:
            while True:
                token, _, _ = self.call(
                    "copy",
                    dst_key,
                    lambda t=token: dst.rewrite(src, token=t, timeout=self.timeout, retry=None, **cond),  # type: ignore[misc]
                    resolve=resolve if if_none_match else None,
                )
                if resolved:
                    return resolved[0]
                if token is None:
                    break
        except NotFound as exc:  # name the source, which is what is missing (or the bucket)
            raise NotFound(
                f"the source object or the bucket does not exist: {exc.reason}",
                provider=self.provider,
                operation="copy",
                bucket=self.bucket,
                key=src_key,
                status=404,
            ) from exc
        except PreconditionFailed:
            if not if_none_match:
                raise
            raise self._error(AlreadyExists, "the object exists", "copy", dst_key) from None
        return self._info(dst)

    # -- listing ------------------------------------------------------------------------------------------
    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage:
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
                raise self._error(InvalidArgument, "the list token does not come from a gs:// listing", "list", prefix)

        def request() -> tuple[Any, Any]:
            iterator = self.client.list_blobs(
                self._bucket,
                prefix=prefix or None,
                delimiter=delimiter or None,
                page_size=min(1000, size + (drop is not None)),
                page_token=native,
                start_offset=offset,
                timeout=self.timeout,
                retry=None,
            )
            return iterator, next(iterator.pages)

        iterator, page = self.call("list", prefix, request)
        entries: list[ObjectInfo | CommonPrefix] = [self._info(b) for b in page if b.name != drop]
        entries += [CommonPrefix(p) for p in page.prefixes if p != drop]
        entries.sort(key=lambda e: e.key if isinstance(e, ObjectInfo) else e.prefix)
        next_token = f"n:{iterator.next_page_token}" if iterator.next_page_token else None
        if len(entries) > size:
            entries = entries[:size]
            last = entries[-1]
            next_token = f"p:{last.prefix}" if isinstance(last, CommonPrefix) else f"o:{last.key}"
        return ListPage(
            [e for e in entries if isinstance(e, ObjectInfo)],
            [e for e in entries if isinstance(e, CommonPrefix)],
            next_token,
        )

    # -- presign ------------------------------------------------------------------------------------------
    def presign(self, key: str, method: PresignMethod, expires: int, content_type: str | None) -> str:
        """A V4 signed URL, signed locally with a service-account key (``signing_credentials`` or a
        service-account ``credentials``/``credentials_file``)."""
        if self._signer is None:
            raise self._error(
                Unsupported,
                "presigning needs a service-account credential with a private "
                "key (signing_credentials=, credentials= or credentials_file=)",
                "presign",
                key,
            )
        kwargs: dict[str, Any] = {
            "version": "v4",
            "expiration": timedelta(seconds=expires),
            "method": method,
            "credentials": self._signer,
        }
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
        return ObjectInfo(
            key=blob.name,
            size=int(blob.size or 0),
            etag=unquote_etag(blob.etag),
            last_modified=_utc(blob.updated),
            content_type=blob.content_type,
            metadata={k.lower(): v for k, v in (blob.metadata or {}).items()},
            version=str(blob.generation) if blob.generation else None,
            checksums=checksums,
        )

    def __repr__(self) -> str:
        return f"GCSBackend({self.describe()!r})"


class _PartStream(io.RawIOBase):
    """A file over ``Body.parts`` for a resumable upload, holding at most one part in memory.

    The upload reads one chunk at a time and checks ``tell()``; the last chunk read is kept so ``seek``
    can rewind into it when the server did not commit all of it (a failed or partly kept chunk).
    An exception from the caller's data is kept in ``error`` so ``put`` can re-raise it unchanged.
    """

    def __init__(self, parts: Iterator[bytes]) -> None:
        super().__init__()
        self._parts = parts
        self._pending = b""  # bytes taken from ``parts`` (or rewound) and not handed out yet
        self._last = b""  # the chunk handed out last, ending at ``_position``
        self._position = 0
        self.error: BaseException | None = None
        self.exhausted = False  # every part has been taken

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Rewind within the last chunk read (all a resumable upload ever needs)."""
        start = self._position - len(self._last)
        if whence != io.SEEK_SET or not start <= offset <= self._position:
            raise ValueError(f"cannot seek a put body to byte {offset}: bytes {start}..{self._position} are kept")
        back = self._position - offset
        if back:
            keep = len(self._last) - back
            self._pending = self._last[keep:] + self._pending
            self._last = self._last[:keep]
            self._position = offset
        return offset

    def read(self, size: int | None = -1) -> bytes:
        want = size if size is not None and size >= 0 else None
        self._last = b""  # the previous chunk was acknowledged: it is never resent
        pieces = []
        have = 0
        while want is None or have < want:
            if not self._pending:
                try:
                    self._pending = next(self._parts)
                except StopIteration:
                    self.exhausted = True
                    break
                except BaseException as exc:
                    self.error = exc
                    raise
            take = len(self._pending) if want is None else min(want - have, len(self._pending))
            pieces.append(self._pending[:take])
            self._pending = self._pending[take:]
            have += take
        out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._position += len(out)
        self._last = out
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
    metadata = {k[len("x-goog-meta-") :].lower(): v for k, v in headers.items() if k.lower().startswith("x-goog-meta-")}
    modified = headers.get("Last-Modified")
    return ObjectInfo(
        key=key,
        size=size,
        etag=unquote_etag(headers.get("ETag")),
        last_modified=_utc(parsedate_to_datetime(modified)) if modified else None,
        content_type=headers.get("Content-Type"),
        metadata=metadata,
        version=headers.get("x-goog-generation") or None,
        checksums=checksums,
    )


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


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
