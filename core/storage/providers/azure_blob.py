"""Azure Blob Storage (``az://container[/prefix]``) on azure-storage-blob.

Block blobs only. Small bodies go up in one Put Blob; larger ones are staged block by block and made
visible by one Put Block List, so a failed upload never shows a partial object. The SDK's own retries
are off (``retry_total=0``): ``Backend.call`` retries. ETags travel unquoted in ``ObjectInfo`` and are
re-quoted on the wire.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlsplit

import requests
from azure.core import MatchConditions
from azure.core.credentials import AzureSasCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobProperties,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    generate_blob_sas,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from ..api import (
    DEFAULT_CHUNK,
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
from ..capabilities import Capabilities, MiB
from ..errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    TransientError,
    Unauthenticated,
    Unsupported,
    error_for_status,
)
from ..etag import quote_etag, unquote_etag
from ..options import AzureBlobOptions, backend_options
from . import azure_download
from ._common import by_engine, upload_parts
from .azure_listing import list_blobs_page

DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_CONCURRENCY = 4
MAX_BLOCK_SIZE = 4000 * MiB  # Put Block limit (service version 2019-12-12 and later)
MAX_SINGLE_PUT = 5000 * MiB  # Put Blob limit
MAX_BLOCKS = 50_000
LIST_MAX = 5000  # List Blobs maxresults limit
# bytes of a read's first answer (the SDK's ``download_blob``, buffered whole); the rest is one streamed
# GET in blocks of the same size (azure_download), so a reader holds about one of them
READ_CHUNK = 1 * MiB
DEFAULT_CONTENT_TYPE = "application/octet-stream"
ENV_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ENV_ACCOUNT_URL = "AZURE_STORAGE_ACCOUNT_URL"
# Azure metadata names must be C# identifiers; the core allows [A-Za-z0-9_-]. Other names are stored
# hex-encoded behind a reserved prefix, so "content-sha" written on S3 survives a trip through Azure.
_METADATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ENCODED_PREFIX = "circlehex_"
# Error codes that mean "who you are is not allowed" rather than "we do not know who you are".
_FORBIDDEN_CODES = {
    "authorizationfailure",
    "authorizationpermissionmismatch",
    "authorizationsourceipmismatch",
    "authorizationprotocolmismatch",
    "authorizationresourcetypemismatch",
    "authorizationservicemismatch",
    "insufficientaccountpermissions",
}
_UNAUTHENTICATED_CODES = {"authenticationfailed", "invalidauthenticationinfo", "noauthenticationinformation"}


class AzureBlobBackend(Backend):
    """One container, reached by connection string, account URL + credential, or Entra ID."""

    provider: ClassVar[str] = "az"

    def __init__(self, bucket: str, options: dict[str, Any]) -> None:
        opts = backend_options(AzureBlobOptions, options, self.provider)  # types and ranges; aliases resolved
        self.bucket = bucket
        self.part_size = opts.part_size
        threshold = opts.single_put_threshold
        self.single_put_threshold = self.part_size if threshold is None else threshold
        # blocks staged at once: throughput from parallel requests, memory bounded by concurrency x part_size
        self.concurrency = opts.concurrency
        client_kwargs: dict[str, Any] = {
            "retry_total": 0,  # Backend.call owns retries
            "connection_timeout": opts.connect_timeout,
            "read_timeout": opts.read_timeout,
            "max_single_put_size": max(self.single_put_threshold, 1),
            "max_single_get_size": READ_CHUNK,
            "max_chunk_get_size": READ_CHUNK,
            # blocks of a streamed body (azure_download): 1 MiB as the other providers read, not the
            # SDK's 256 KiB, whose many small buffers stayed in the heap once joined into upload parts
            "connection_data_block_size": DEFAULT_CHUNK,
        }
        if opts.api_version:
            client_kwargs["api_version"] = opts.api_version
        try:
            self._service = _service_client(opts, client_kwargs)
        except StorageError:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"cannot build the Azure client: {exc}", provider=self.provider, bucket=bucket
            ) from None
        self._container: ContainerClient = self._service.get_container_client(bucket)
        credential = self._service.credential
        self._account_key: str | None = getattr(credential, "account_key", None)
        self._token_auth = hasattr(credential, "get_token")
        # a SAS held by the credential policy (not in the URL) must also authorise the copy source
        self._sas_query = credential.signature.lstrip("?") if isinstance(credential, AzureSasCredential) else ""
        can_presign = self._account_key is not None or self._token_auth
        self.capabilities = Capabilities(
            write_multi_min_size=1,
            write_multi_max_size=MAX_BLOCK_SIZE,
            write_multi_max_parts=MAX_BLOCKS,
            delete_many_max=256,
            list_max_page_size=LIST_MAX,
            presign_read=can_presign,
            presign_write=can_presign,
            versioning=False,  # version ids appear only on accounts with blob versioning switched on
            checksums=frozenset({"md5", "crc64"}),
        )

    # -- plumbing -------------------------------------------------------------------------------------
    def _blob(self, key: str) -> BlobClient:
        return self._container.get_blob_client(key)

    def close(self) -> None:
        self._service.close()

    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        status: int | None = None
        code: str | None = None
        request_id: str | None = None
        if isinstance(exc, HttpResponseError):
            status = exc.status_code
            code = _code(exc) or None
            headers: Mapping[str, str] = getattr(exc.response, "headers", None) or {}
            request_id = headers.get("x-ms-request-id")
            code = code or headers.get("x-ms-error-code")
        lowered = (code or "").lower()
        cls: type[StorageError]
        if isinstance(
            exc,
            ServiceRequestError
            | ServiceResponseError
            | DecodeError
            | requests.RequestException
            | Urllib3Error
            | ConnectionError
            | TimeoutError,
        ):
            cls = TransientError
        elif lowered in _FORBIDDEN_CODES:
            cls = PermissionDenied
        elif lowered in _UNAUTHENTICATED_CODES or (isinstance(exc, ClientAuthenticationError) and status is None):
            cls = Unauthenticated
        elif isinstance(exc, HttpResponseError):
            cls = error_for_status(status, code)
        elif isinstance(exc, ValueError | TypeError):
            cls = InvalidArgument
        else:
            cls = StorageError
        message = _first_line(exc)
        if code and code not in message:
            message = f"{code}: {message}"
        return cls(
            message,
            provider=self.provider,
            operation=operation,
            bucket=self.bucket,
            key=key,
            request_id=request_id,
            status=status,
        )

    def _missing_or_mismatch(self, exc: ResourceModifiedError, operation: str, key: str) -> NoReturn:
        """Azure answers If-Match on a missing blob with 412; the contract says NotFound. One HEAD tells."""
        err = self.translate(exc, operation, key)
        try:
            self._blob(key).get_blob_properties()
        except ResourceNotFoundError as missing:
            raise self.translate(missing, operation, key) from exc
        raise err from exc

    # -- reads ----------------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        return _info(key, self.call("head", key, lambda: self._blob(key).get_blob_properties()))

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        blob = self._blob(key)
        conditions = _if_match(if_match)

        def request() -> Any:
            try:
                offset, length = self._resolve_range(blob, rng, conditions)
                # the stored bytes, as the other providers read them (no decoding of a Content-Encoding)
                return blob.download_blob(
                    offset=offset, length=length, max_concurrency=1, decompress=False, **conditions
                )
            except ResourceModifiedError as exc:
                self._missing_or_mismatch(exc, "get", key)
            except HttpResponseError as exc:
                if exc.status_code != 416:
                    raise
                return None

        downloader = self.call("get", key, request)
        if downloader is None:  # the range starts past the end: an empty read of an existing object
            props = self.call("get", key, lambda: blob.get_blob_properties(**conditions))
            return ObjectReader([], _info(key, props))
        props = downloader.properties
        total = _total_size(props.content_range, props.size)
        info = _info(key, props, size=total)
        # the first answer holds at most READ_CHUNK bytes; anything after them is one streamed GET
        first = downloader.read(min(READ_CHUNK, downloader.size))
        start = (rng.start or 0) if rng is not None and rng.suffix is None else total - downloader.size
        last = start + downloader.size - 1
        rest: Callable[[int], Any] | None = None
        if len(first) < downloader.size:

            def rest(offset: int) -> Any:
                return self.call("get", key, lambda: azure_download.open_range(blob, offset, last, props.etag))

        chunks = azure_download.streamed(first, rest, start + len(first), last)
        return ObjectReader(chunks, info, close=chunks.close, translate=lambda e: self.translate(e, "get", key))

    @staticmethod
    def _resolve_range(
        blob: BlobClient, rng: ByteRange | None, conditions: dict[str, Any]
    ) -> tuple[int | None, int | None]:
        """SDK offset/length for a range. Azure has no suffix ranges, so a tail read first learns the size."""
        if rng is None:
            return None, None
        if rng.suffix is not None:
            size = blob.get_blob_properties(**conditions).size
            start = max(0, size - rng.suffix)
            if start >= size:
                return size, None  # empty object: answered below as a 416
            return start, size - start
        if rng.end is None:
            return (rng.start or None), None
        return rng.start, rng.end - rng.start

    # -- writes ---------------------------------------------------------------------------------------
    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        metadata = _check_metadata(opts.metadata, self.provider, self.bucket, key)
        content_type = opts.content_type or DEFAULT_CONTENT_TYPE
        conditions = _write_conditions(opts)
        resolved: list[ObjectInfo] = []
        resolve: Callable[[StorageError], Any] | None = None
        if conditions:  # a conditional write carries a token to recognise it by if its answer is lost
            token = uuid.uuid4().hex
            metadata[WRITE_TOKEN] = token

            def resolve(error: StorageError) -> Any:
                resolved.append(self.written_by(key, token, error))
                return {}

        blob = self._blob(key)
        whole = body.read_whole(self.single_put_threshold)
        try:
            if whole is not None:
                result = self.call(
                    "put",
                    key,
                    lambda: blob.upload_blob(
                        whole,
                        length=len(whole),
                        overwrite=True,
                        metadata=metadata,
                        max_concurrency=1,
                        content_settings=ContentSettings(content_type=content_type),
                        **conditions,
                    ),
                    resolve=resolve,
                )
                size, md5 = len(whole), result.get("content_md5")
            else:
                size, digest, result = self._put_blocks(blob, key, body, content_type, metadata, conditions, resolve)
                md5 = bytearray(digest)
        except PreconditionFailed as exc:
            raise self._write_precondition(exc, opts, key) from exc
        if resolved:
            return dataclasses.replace(resolved[0], metadata=dict(opts.metadata))
        return ObjectInfo(
            key=key,
            size=size,
            etag=unquote_etag(result.get("etag")),
            last_modified=_aware(result.get("last_modified")),
            content_type=content_type,
            metadata=dict(opts.metadata),
            version=result.get("version_id"),
            checksums=_checksums(md5, result.get("content_crc64")),
        )

    def _put_blocks(
        self,
        blob: BlobClient,
        key: str,
        body: Body,
        content_type: str,
        metadata: dict[str, str],
        conditions: dict[str, Any],
        resolve: Callable[[StorageError], Any] | None = None,
    ) -> tuple[int, bytes, dict[str, Any]]:
        """Stage blocks (``concurrency`` parts in flight and in memory), then commit: nothing is visible
        before the commit, so a failed upload leaves no object."""
        upload = uuid.uuid4().hex  # block ids are per upload, so concurrent uploads never mix blocks
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for index, part in enumerate(body.parts(self.part_size)):
                if index >= MAX_BLOCKS:
                    raise InvalidArgument(
                        f"the body needs more than {MAX_BLOCKS} blocks; raise part_size",
                        provider=self.provider,
                        bucket=self.bucket,
                        key=key,
                    )
                md5.update(part)
                size += len(part)
                yield part

        def stage(index: int, part: bytes) -> BlobBlock:
            block_id = base64.b64encode(f"{upload}-{index:06d}".encode()).decode()
            self.call("put", key, lambda: blob.stage_block(block_id, part, length=len(part)))
            return BlobBlock(block_id)

        blocks = upload_parts(counted(), stage, self.concurrency)
        digest = md5.digest()
        settings = ContentSettings(content_type=content_type, content_md5=bytearray(digest))
        result = self.call(
            "put",
            key,
            lambda: blob.commit_block_list(blocks, content_settings=settings, metadata=metadata, **conditions),
            resolve=resolve,
        )
        return size, digest, result

    def _write_precondition(self, exc: PreconditionFailed, opts: WriteOptions, key: str) -> StorageError:
        """A 412 on a write: AlreadyExists for create-only, NotFound when CAS found nothing."""
        if opts.if_none_match:
            return AlreadyExists(
                exc.reason,
                provider=self.provider,
                operation="put",
                bucket=self.bucket,
                key=key,
                request_id=exc.request_id,
                status=exc.status,
            )
        try:
            self.call("put", key, lambda: self._blob(key).get_blob_properties())
        except NotFound as missing:
            return missing
        return exc

    def delete(self, key: str, if_match: str | None) -> None:
        def request() -> None:
            try:
                self._blob(key).delete_blob(**_if_match(if_match))
            except ResourceModifiedError as exc:
                self._missing_or_mismatch(exc, "delete", key)
            except ResourceNotFoundError as exc:
                if if_match is not None or _code(exc).lower() != "blobnotfound":
                    raise  # a missing container is an error, and CAS on a missing blob is NotFound

        self.call("delete", key, request, resolve=(lambda error: self.deleted(key, error)) if if_match else None)

    def delete_many(self, keys: list[str]) -> list[DeleteFailure]:
        """One blob batch request (at most 256 keys); a missing blob is not a failure."""
        keys = list(dict.fromkeys(keys))  # one sub-request per blob, even if the caller repeats a key
        if not keys:
            return []
        responses = self.call(
            "delete_many", None, lambda: list(self._container.delete_blobs(*keys, raise_on_any_failure=False))
        )
        failures: list[DeleteFailure] = []
        for key, response in zip(keys, responses, strict=True):
            status = response.status_code
            code = response.headers.get("x-ms-error-code")
            if status < 300 or (status == 404 and (code or "").lower() == "blobnotfound"):
                continue
            cls = error_for_status(status, code)
            if (code or "").lower() in _FORBIDDEN_CODES:
                cls = PermissionDenied
            failures.append(
                DeleteFailure(
                    key,
                    cls(
                        f"{code or status}: {response.reason or 'delete failed'}",
                        provider=self.provider,
                        operation="delete_many",
                        bucket=self.bucket,
                        key=key,
                        request_id=response.headers.get("x-ms-request-id"),
                        status=status,
                    ),
                )
            )
        return failures

    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo:
        """Server-side Copy Blob within the account; properties and metadata come along."""
        source = self._blob(src_key)
        target = self._blob(dst_key)
        conditions: dict[str, Any] = {"match_condition": MatchConditions.IfMissing} if if_none_match else {}
        source_url = source.url
        if self._sas_query and "?" not in source_url:
            source_url += "?" + self._sas_query
        resolved: list[ObjectInfo] = []

        def resolve(error: StorageError) -> Any:
            resolved.append(self.copied(src_key, dst_key, error))
            return {"copy_status": "success"}

        result = self.call(
            "copy",
            dst_key,
            lambda: target.start_copy_from_url(source_url, **conditions),
            resolve=resolve if if_none_match else None,
        )
        if resolved:
            return resolved[0]
        status = result.get("copy_status")
        deadline = self.retry.clock() + self.retry.total_timeout
        while status == "pending":  # large copies finish asynchronously
            if self.retry.clock() > deadline:
                raise StorageError(
                    "the copy is still pending; it continues on the service",
                    provider=self.provider,
                    operation="copy",
                    bucket=self.bucket,
                    key=dst_key,
                )
            self.retry.sleep(0.2)
            status = self.call("copy", dst_key, lambda: target.get_blob_properties()).copy.status
        if status != "success":
            raise StorageError(
                f"copy ended with status {status!r}",
                provider=self.provider,
                operation="copy",
                bucket=self.bucket,
                key=dst_key,
            )
        return self.head(dst_key)

    # -- listing --------------------------------------------------------------------------------------
    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage:
        """One full page in key order. Azure has no StartAfter: names up to it are listed and skipped here.

        The token is ours: the service's continuation marker plus the last name returned, so a page can
        end inside a service page (skipped names would otherwise leave pages short).
        """
        limit = page_size or LIST_MAX
        marker, resume_after = _decode_token(token)
        after = max(filter(None, [start_after, resume_after]), default=None)
        entries: list[tuple[str, ObjectInfo | CommonPrefix]] = []
        while True:
            batch, next_marker = self.call(
                "list", prefix, functools.partial(self._list_once, prefix, delimiter, limit, marker)
            )
            fresh = [e for e in batch if after is None or e[0] > after]
            room = limit - len(entries)
            if len(fresh) > room:  # this service page overflows ours: resume inside it next time
                entries += fresh[:room]
                return _list_page(entries, _encode_token(marker, entries[-1][0]))
            entries += fresh
            if next_marker is None:
                return _list_page(entries, None)
            marker = next_marker
            if len(entries) == limit:
                return _list_page(entries, _encode_token(marker, None))

    def _list_once(
        self, prefix: str, delimiter: str | None, limit: int, marker: str | None
    ) -> tuple[list[tuple[str, ObjectInfo | CommonPrefix]], str | None]:
        """One List Blobs request: its entries in key order and the service's continuation marker."""
        batch, next_marker = list_blobs_page(self._container, prefix, delimiter, limit, marker, _decode_metadata)
        return sorted(batch, key=lambda e: e[0]), next_marker

    # -- presigning -----------------------------------------------------------------------------------
    def presign(self, key: str, method: PresignMethod, expires: int, content_type: str | None) -> str:
        """A SAS URL signed with the account key, or with a user delegation key under Entra ID.

        A PUT through the URL must send ``x-ms-blob-type: BlockBlob``."""
        now = datetime.now(UTC)
        expiry = now + timedelta(seconds=expires)
        permission = BlobSasPermissions(read=True) if method == "GET" else BlobSasPermissions(create=True, write=True)
        signing: dict[str, Any]
        if self._account_key is not None:
            signing = {"account_key": self._account_key}
        elif self._token_auth:
            delegation = self.call(
                "presign", key, lambda: self._service.get_user_delegation_key(now - timedelta(minutes=5), expiry)
            )
            signing = {"user_delegation_key": delegation}
        else:
            raise Unsupported(
                "presigning needs an account key or an Entra ID credential, not a SAS",
                provider=self.provider,
                bucket=self.bucket,
                key=key,
            )
        sas = generate_blob_sas(
            account_name=str(self._service.account_name),
            container_name=self.bucket,
            blob_name=key,
            permission=permission,
            expiry=expiry,
            content_type=content_type if method == "GET" else None,
            **signing,
        )
        return f"{self._blob(key).primary_endpoint.split('?', 1)[0]}?{sas}"


# -- helpers --------------------------------------------------------------------------------------------
def _service_client(opts: AzureBlobOptions, kwargs: dict[str, Any]) -> BlobServiceClient:
    """Options first, then the SDK's environment variables; Entra ID when nothing else is given."""
    connection_string = opts.connection_string
    account_url = opts.account_url
    credential = opts.credential
    if connection_string and (account_url or credential is not None):
        raise InvalidArgument("give either connection_string or account_url (+ credential), not both", provider="az")
    if not connection_string and not account_url:
        connection_string = os.environ.get(ENV_CONNECTION_STRING)
        account_url = None if connection_string else os.environ.get(ENV_ACCOUNT_URL)
    if not connection_string and not account_url and opts.account:
        account_url = f"https://{opts.account}.blob.core.windows.net"
    if connection_string:
        return BlobServiceClient.from_connection_string(connection_string, **kwargs)
    if not account_url:
        raise InvalidArgument(
            f"an az store needs connection_string= or account_url= (or {ENV_CONNECTION_STRING} / {ENV_ACCOUNT_URL})",
            provider="az",
        )
    if isinstance(credential, str) and credential.startswith("?"):
        credential = credential[1:]
    if credential is None and "sig=" not in (urlsplit(account_url).query or ""):
        from azure.identity import DefaultAzureCredential  # lazy: only Entra ID stores need it

        credential = DefaultAzureCredential()
    return BlobServiceClient(account_url, credential=credential, **kwargs)


def _check_metadata(metadata: Mapping[str, str], provider: str, bucket: str, key: str) -> dict[str, str]:
    """Metadata names as Azure stores them: C# identifiers as they are, others (``multi-word``,
    ``9lives``) hex-encoded behind a reserved prefix that ``_decode_metadata`` reverses."""
    out = {}
    for name, value in metadata.items():
        if name.lower().startswith(_ENCODED_PREFIX):
            raise InvalidArgument(
                f"metadata key {name!r} uses the reserved prefix {_ENCODED_PREFIX!r}",
                provider=provider,
                operation="put",
                bucket=bucket,
                key=key,
            )
        out[name if _METADATA_NAME.match(name) else _ENCODED_PREFIX + name.encode().hex()] = value
    return out


def _decode_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for name, value in (metadata or {}).items():
        name = name.lower()
        if name.startswith(_ENCODED_PREFIX):
            with contextlib.suppress(ValueError):  # not ours: keep it as stored
                name = bytes.fromhex(name[len(_ENCODED_PREFIX) :]).decode()
        out[name] = value
    return out


def _if_match(etag: str | None) -> dict[str, Any]:
    if not etag:
        return {}
    return {"etag": quote_etag(etag), "match_condition": MatchConditions.IfNotModified}


def _write_conditions(opts: WriteOptions) -> dict[str, Any]:
    if opts.if_none_match:
        return {"match_condition": MatchConditions.IfMissing}  # If-None-Match: *
    return _if_match(opts.if_match)


def _code(exc: HttpResponseError) -> str:
    """The service's error code (``BlobNotFound``...), as given; the SDK may hold an enum or nothing."""
    raw = getattr(exc, "error_code", None)
    return str(getattr(raw, "value", raw) or "")


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _checksums(md5: Any, crc64: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if md5:
        out["md5"] = bytes(md5).hex()
    if crc64:
        out["crc64"] = base64.b64encode(bytes(crc64)).decode() if not isinstance(crc64, str) else crc64
    return out


def _info(key: str, props: BlobProperties, size: int | None = None) -> ObjectInfo:
    settings = props.content_settings
    return ObjectInfo(
        key=key,
        size=props.size if size is None else size,
        etag=unquote_etag(props.etag),
        last_modified=_aware(props.last_modified),
        content_type=settings.content_type,
        metadata=_decode_metadata(props.metadata),
        version=props.version_id,
        checksums=_checksums(settings.content_md5, None),
    )


def _total_size(content_range: str | None, fallback: int) -> int:
    """The whole object's size from ``bytes a-b/total`` (a ranged download reports only its slice)."""
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return fallback


def _list_page(entries: list[tuple[str, ObjectInfo | CommonPrefix]], token: str | None) -> ListPage:
    objects = [e for _, e in entries if isinstance(e, ObjectInfo)]
    prefixes = [e for _, e in entries if isinstance(e, CommonPrefix)]
    return ListPage(objects, prefixes, token)


def _encode_token(marker: str | None, after: str | None) -> str:
    raw = json.dumps({"m": marker, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None) -> tuple[str | None, str | None]:
    if not token:
        return None, None
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        marker, after = state["m"], state["a"]
        if not all(v is None or isinstance(v, str) for v in (marker, after)):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise InvalidArgument("the list token is not one this az store issued", provider="az") from None
    return marker, after


def open_backend(bucket: str, options: dict[str, Any]) -> Backend:
    """The registry's factory: ``AzureBlobBackend``, or with ``engine = "obstore"`` its obstore data path."""
    return by_engine(AzureBlobBackend, "core.storage.providers.azure_obstore:ObstoreAzureBackend", bucket, options)


__all__ = ["AzureBlobBackend", "open_backend"]
