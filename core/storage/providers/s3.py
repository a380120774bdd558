"""Amazon S3 and S3-compatible stores (``s3://bucket[/prefix]``) on boto3.

Provider differences live in ``s3_profiles`` as data; this module reads the profile and never branches
on a provider's name. The SDK's own retries are off (``total_max_attempts=1``): ``Backend.call`` retries.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import boto3
import botocore.exceptions as bex
import botocore.handlers as botocore_handlers
import botocore.session
import botocore.utils
from botocore.config import Config
from urllib3.exceptions import HTTPError as Urllib3Error

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
from ..capabilities import MiB
from ..errors import (
    AlreadyExists,
    IntegrityError,
    InvalidArgument,
    StorageError,
    TransientError,
    Unauthenticated,
    Unsupported,
    error_for_status,
)
from ..etag import quote_etag, unquote_etag
from ..options import S3Options, backend_options
from ._common import by_engine, resumed, upload_parts
from .s3_profiles import S3Profile, get_profile

CHUNK = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_COPY_SIZE = 5 * 1024 * MiB  # one CopyObject; larger objects would need UploadPartCopy
EXPECT_CONTINUE_ABOVE = 1 * MiB
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
_CHECKSUM_FIELDS = {
    "ChecksumCRC32": "crc32",
    "ChecksumCRC32C": "crc32c",
    "ChecksumSHA1": "sha1",
    "ChecksumSHA256": "sha256",
    "ChecksumCRC64NVME": "crc64nvme",
}
# DeleteObjects per-key error codes -> the HTTP status they would carry on a single request.
_DELETE_CODE_STATUS = {
    "AccessDenied": 403,
    "NoSuchBucket": 404,
    "InternalError": 500,
    "SlowDown": 503,
    "PreconditionFailed": 412,
    "InvalidRequest": 400,
    "InvalidArgument": 400,
}
_SHARED_LOCK = threading.Lock()
_TRANSPORT_ERRORS = (
    bex.HTTPClientError,
    bex.ConnectionError,
    bex.ResponseStreamingError,
    bex.IncompleteReadError,
    Urllib3Error,
    ConnectionError,
    TimeoutError,
)


class S3Backend(Backend):
    """A bucket on S3 or an S3-compatible provider chosen by ``profile=`` (see ``s3_profiles``)."""

    provider: ClassVar[str] = "s3"

    def __init__(self, bucket: str, options: dict[str, Any]) -> None:
        opts = backend_options(S3Options, options, self.provider)  # types, ranges, pairs; aliases resolved
        self.profile: S3Profile = get_profile(opts.profile)
        self.profile.check_bucket(bucket)
        self.bucket = bucket
        self.capabilities = self.profile.capabilities()
        # SSE-KMS: the parameters every write sends. An SSE-KMS object's ETag is not its MD5.
        self.encryption: dict[str, str] = {}
        if opts.sse_kms_key_id:
            self.encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": opts.sse_kms_key_id}
            self.capabilities = dataclasses.replace(
                self.capabilities, etag_is_md5=False, checksums=self.capabilities.checksums - {"md5"}
            )
        self.part_size = _int_option(
            opts.part_size,
            "part_size",
            max(DEFAULT_PART_SIZE, self.profile.min_part_size),
            self.profile.min_part_size,
            MAX_PART_SIZE,
        )
        threshold = opts.multipart_threshold
        self.multipart_threshold = self.part_size if threshold is None else threshold
        self.concurrency = opts.concurrency  # multipart parts in flight: throughput against concurrency x part_size
        self.client = self._build_client(opts)

    # -- client -----------------------------------------------------------------------------------------
    def _build_client(self, opts: S3Options) -> Any:
        p = self.profile
        env_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        region: str | None = opts.region or env_region
        endpoint = opts.endpoint_url or p.endpoint_for(opts.region, opts.namespace)
        if endpoint is not None and region is None:
            region = "us-east-1"  # any signing region will do for a custom endpoint
        config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": p.addressing_style},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=opts.connect_timeout,
            read_timeout=opts.read_timeout,
            max_pool_connections=opts.max_pool_connections,
            request_checksum_calculation=p.checksum_mode,
            response_checksum_validation=p.checksum_mode,
            user_agent_extra="circle-core",
        )
        key_id, secret = opts.access_key_id, opts.secret_access_key  # paired by S3Options.validate
        # what a server-side copy from another bucket needs in common: the endpoint and the credential
        # (a digest of the secret, never the secret; the credential chain when no keys are given)
        digest = hashlib.sha256(f"{secret}\0{opts.session_token}".encode()).hexdigest() if key_id else None
        self._scope = ("s3", p.name, endpoint, region, key_id, digest, opts.aws_profile)
        try:
            if key_id and not opts.aws_profile:
                with _SHARED_LOCK:  # explicit keys: skip loading a new session (~60 ms) per store
                    client = _shared_session().client(
                        "s3",
                        endpoint_url=endpoint,
                        config=config,
                        aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        aws_session_token=opts.session_token,
                    )
            else:  # a fresh session re-reads the credential chain (env, files, SSO, IMDS) for this store
                session = boto3.session.Session(
                    aws_session_token=opts.session_token,
                    profile_name=opts.aws_profile,
                    botocore_session=_botocore_session(),
                )
                client = session.client("s3", endpoint_url=endpoint, config=config)
        except bex.ProfileNotFound as exc:
            raise InvalidArgument(f"AWS profile not found: {exc}", provider=self.provider, bucket=self.bucket) from None
        except ValueError as exc:  # e.g. a malformed endpoint URL
            raise InvalidArgument(
                f"cannot build the S3 client: {exc}", provider=self.provider, bucket=self.bucket
            ) from None
        self._install_hooks(client)
        return client

    def _install_hooks(self, client: Any) -> None:
        """Per-profile request rewrites as botocore event handlers (no SDK subclassing)."""
        events = client.meta.events
        header = self.profile.create_only_header
        if header is not None and not self.profile.create_only_native:
            rewrite = _create_only_rewriter(header)
            for op in ("PutObject", "CompleteMultipartUpload", "CopyObject"):
                events.register(f"before-call.s3.{op}", rewrite, unique_id=f"circle-create-only-{op}")
        if self.profile.delete_many_needs_md5:
            events.register("before-call.s3.DeleteObjects", _content_md5_instead_of_crc, unique_id="circle-delete-md5")
        events.unregister("before-call.s3", botocore_handlers.add_expect_header)
        events.register("before-call.s3", _expect_continue_for_large_bodies, unique_id="circle-expect-continue")

    def close(self) -> None:
        self.client.close()

    # -- errors -----------------------------------------------------------------------------------------
    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        where: dict[str, Any] = {"provider": self.provider, "operation": operation, "bucket": self.bucket, "key": key}
        if isinstance(exc, bex.ClientError):
            err = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode")
            code = str(err.get("Code") or "")
            cls = error_for_status(status, code)
            message = f"{code}: {err.get('Message') or 'no message'}" if code else str(err.get("Message"))
            request_id = meta.get("RequestId") or meta.get("HTTPHeaders", {}).get("x-amz-request-id") or None
            return cls(message, request_id=request_id, status=status, **where)
        if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
            return Unauthenticated(f"no usable AWS credentials: {type(exc).__name__}", **where)
        if isinstance(exc, bex.ParamValidationError):
            return InvalidArgument(str(exc), **where)
        if isinstance(exc, bex.FlexibleChecksumError):
            return IntegrityError(str(exc), **where)
        if isinstance(exc, _TRANSPORT_ERRORS):
            return TransientError(f"{type(exc).__name__}: {exc}", **where)
        return StorageError(f"{type(exc).__name__}: {exc}", **where)

    def _create_only_call(
        self, operation: str, key: str, fn: Any, resolve: Callable[[StorageError], Any] | None = None
    ) -> Any:
        """``fn`` with a create-only condition: 412 (S3) or 409 (OSS/COS forbid-overwrite) is AlreadyExists;
        S3's 409 ConditionalRequestConflict (a concurrent conditional write) is retried."""

        def attempt() -> Any:
            try:
                return fn()
            except bex.ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = exc.response.get("Error", {}).get("Code")
                if status in (409, 412) and code not in ("ConditionalRequestConflict", "OperationAborted"):
                    raise AlreadyExists(
                        f"{code}: the object exists",
                        provider=self.provider,
                        operation=operation,
                        bucket=self.bucket,
                        key=key,
                        status=status,
                        request_id=exc.response.get("ResponseMetadata", {}).get("RequestId"),
                    ) from exc
                raise

        return self.call(operation, key, attempt, resolve=resolve)

    # -- reads ------------------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        extra = {"ChecksumMode": "ENABLED"} if self.profile.response_checksums else {}
        return self._info(
            key, self.call("head", key, lambda: self.client.head_object(Bucket=self.bucket, Key=key, **extra))
        )

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if rng is not None:
            kwargs["Range"] = rng.http_header()
        if if_match:
            kwargs["IfMatch"] = quote_etag(if_match)
        if self.profile.response_checksums:
            kwargs["ChecksumMode"] = "ENABLED"

        def request() -> Any:
            try:
                return self.client.get_object(**kwargs)
            except bex.ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 416:
                    return None
                raise

        resp = self.call("get", key, request)
        if resp is None:  # the range starts past the end: an empty read of an existing object
            return ObjectReader([], self.head(key))
        info = self._info(key, resp)
        first, last = _byte_span(resp.get("ContentRange"), int(resp.get("ContentLength") or 0))
        pinned = {"Bucket": self.bucket, "Key": key, **({"IfMatch": resp["ETag"]} if resp.get("ETag") else {})}

        def open_at(offset: int) -> tuple[Iterator[bytes], Callable[[], None]]:
            """The rest of a body cut short: from ``offset``, pinned to the ETag being read."""
            again = self.call("get", key, lambda: self.client.get_object(**pinned, Range=f"bytes={offset}-{last}"))
            return _chunks(again["Body"]), again["Body"].close

        chunks = resumed((_chunks(resp["Body"]), resp["Body"].close), open_at, first, last, _CUT_SHORT, _incomplete)
        return ObjectReader(chunks, info, close=chunks.close, translate=lambda e: self.translate(e, "get", key))

    def _info(self, key: str, resp: Mapping[str, Any]) -> ObjectInfo:
        size = int(resp.get("ContentLength") or 0)
        content_range = resp.get("ContentRange")  # "bytes 0-4/10" on a ranged GET
        if content_range and "/" in content_range and not content_range.endswith("*"):
            size = int(content_range.rsplit("/", 1)[1])
        etag = unquote_etag(resp.get("ETag"))
        return ObjectInfo(
            key=key,
            size=size,
            etag=etag,
            last_modified=_utc(resp.get("LastModified")),
            content_type=resp.get("ContentType"),
            metadata={k.lower(): v for k, v in (resp.get("Metadata") or {}).items()},
            version=_version(resp.get("VersionId")),
            checksums=self._checksums(etag, resp),
        )

    def _checksums(self, etag: str | None, resp: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        # The ETag of an object encrypted with SSE-KMS (this store's option, or the bucket's default
        # encryption, which the response names) or SSE-C is not its MD5.
        encrypted = str(resp.get("ServerSideEncryption") or "").startswith("aws:kms") or resp.get(
            "SSECustomerAlgorithm"
        )
        if self.capabilities.etag_is_md5 and not encrypted and etag and _MD5_HEX.fullmatch(etag):
            out["md5"] = etag.lower()
        for field, kind in _CHECKSUM_FIELDS.items():
            value = resp.get(field)
            if value and "-" not in value:  # "-N" marks a composite (per-part) checksum, not the object's
                out[kind] = value
        return out

    # -- writes -----------------------------------------------------------------------------------------
    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        common: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": opts.content_type or "application/octet-stream",
            "Metadata": dict(opts.metadata),
            **self.encryption,
        }
        cond: dict[str, Any] = {}
        if opts.if_none_match:
            cond["IfNoneMatch"] = "*"
        if opts.if_match:
            cond["IfMatch"] = quote_etag(opts.if_match)
        resolved: list[ObjectInfo] = []
        resolve: Callable[[StorageError], Any] | None = None
        if cond:  # a conditional write carries a token to recognise it by if its answer is lost
            token = uuid.uuid4().hex
            common["Metadata"][WRITE_TOKEN] = token

            def resolve(error: StorageError) -> Any:
                resolved.append(self.written_by(key, token, error))
                return {}

        data = body.read_whole(self.multipart_threshold)
        if data is not None:

            def single() -> Any:
                return self.client.put_object(Body=data, **common, **cond)

            if opts.if_none_match:
                resp = self._create_only_call("put", key, single, resolve)
            else:
                resp = self.call("put", key, single, resolve=resolve)
            size = len(data)
        else:
            resp, size = self._put_multipart(key, body, common, cond, bool(opts.if_none_match), resolve)
        if resolved:
            return dataclasses.replace(resolved[0], metadata=dict(opts.metadata))
        headers = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        etag = unquote_etag(resp.get("ETag"))
        return ObjectInfo(
            key=key,
            size=size,
            etag=etag,
            last_modified=_http_date(headers.get("last-modified")),
            content_type=common["ContentType"],
            metadata=dict(opts.metadata),
            version=_version(resp.get("VersionId")),
            checksums=self._checksums(etag, resp),
        )

    def _put_multipart(
        self,
        key: str,
        body: Body,
        common: dict[str, Any],
        cond: dict[str, Any],
        create_only: bool,
        resolve: Callable[[StorageError], Any] | None,
    ) -> tuple[Mapping[str, Any], int]:
        algo = {"ChecksumAlgorithm": "CRC32"} if self.profile.checksum_mode == "when_supported" else {}
        upload = self.call("put", key, lambda: self.client.create_multipart_upload(**common, **algo))
        upload_id = upload["UploadId"]
        ids = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
        size = 0

        def numbered() -> Iterator[bytes]:
            nonlocal size
            for number, chunk in enumerate(body.parts(self.part_size), start=1):
                if number > self.capabilities.write_multi_max_parts:
                    raise InvalidArgument(
                        f"the body needs more than {self.capabilities.write_multi_max_parts}"
                        f" parts of {self.part_size} bytes; raise part_size",
                        provider=self.provider,
                        bucket=self.bucket,
                        key=key,
                    )
                size += len(chunk)
                yield chunk

        def send(index: int, chunk: bytes) -> dict[str, Any]:
            number = index + 1
            resp = self.call(
                "put", key, functools.partial(self.client.upload_part, Body=chunk, PartNumber=number, **ids, **algo)
            )
            part = {"PartNumber": number, "ETag": resp["ETag"]}
            if resp.get("ChecksumCRC32"):
                part["ChecksumCRC32"] = resp["ChecksumCRC32"]
            return part

        try:
            # ``concurrency`` parts in flight (and in memory) at once, as Azure stages blocks
            parts = upload_parts(numbered(), send, self.concurrency)

            def complete() -> Any:
                return self.client.complete_multipart_upload(MultipartUpload={"Parts": parts}, **ids, **cond)

            if create_only:
                done = self._create_only_call("put", key, complete, resolve)
            else:
                done = self.call("put", key, complete, resolve=resolve)
        except BaseException:
            self._abort(key, upload_id)
            raise
        return done, size

    def _abort(self, key: str, upload_id: str) -> None:
        """Abort a failed multipart upload so no parts linger; a failure here must not mask the cause."""
        with contextlib.suppress(StorageError):
            self.call(
                "put", key, lambda: self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            )

    def delete(self, key: str, if_match: str | None) -> None:
        extra = {"IfMatch": quote_etag(if_match)} if if_match else {}
        self.call(
            "delete",
            key,
            lambda: self.client.delete_object(Bucket=self.bucket, Key=key, **extra),
            resolve=(lambda error: self.deleted(key, error)) if if_match else None,
        )

    def delete_many(self, keys: list[str]) -> list[DeleteFailure]:
        if not keys:
            return []
        resp = self.call(
            "delete_many",
            None,
            lambda: self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            ),
        )
        return self.delete_failures(resp)

    def delete_failures(self, resp: Mapping[str, Any]) -> list[DeleteFailure]:
        """Per-key ``Errors`` of a DeleteObjects response as typed failures (a missing key is no failure)."""
        failures = []
        for err in resp.get("Errors") or []:
            code = str(err.get("Code") or "")
            if code == "NoSuchKey":
                continue
            status = _DELETE_CODE_STATUS.get(code, 0)
            cls = error_for_status(status, code) if status else StorageError
            failures.append(
                DeleteFailure(
                    err["Key"],
                    cls(
                        f"{code}: {err.get('Message') or 'no message'}",
                        provider=self.provider,
                        operation="delete_many",
                        bucket=self.bucket,
                        key=err["Key"],
                        status=status or None,
                    ),
                )
            )
        return failures

    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo:
        def request() -> Any:
            extra = {"IfNoneMatch": "*"} if if_none_match else {}
            return self.client.copy_object(
                Bucket=self.bucket,
                Key=dst_key,
                MetadataDirective="COPY",
                CopySource={"Bucket": self.bucket, "Key": src_key},
                **self.encryption,
                **extra,
            )

        if if_none_match:
            resolved: list[ObjectInfo] = []

            def resolve(error: StorageError) -> Any:
                resolved.append(self.copied(src_key, dst_key, error))
                return {}

            self._create_only_call("copy", dst_key, request, resolve)
            if resolved:
                return resolved[0]
        else:
            self.call("copy", dst_key, request)
        return self.head(dst_key)

    def copy_scope(self) -> Hashable | None:
        return self._scope

    def copy_from(
        self,
        source: Backend,
        src_key: str,
        dst_key: str,
        metadata: Mapping[str, str],
        src_etag: str | None,
        src_size: int | None = None,
    ) -> ObjectInfo:
        """One CopyObject. With nothing to merge and the source's size and ETag known (a listing), the
        copy keeps the source's metadata and content type as they are (MetadataDirective COPY), pinned to
        that ETag. Otherwise HEAD the source first (S3 cannot merge metadata into a copy) and replace the
        metadata with the merged set, pinned to the version read."""
        if metadata or src_etag is None or src_size is None:
            head = source.head(src_key)
            src_size, pin = head.size, src_etag or head.etag
            merged = {k: v for k, v in head.metadata.items() if k != WRITE_TOKEN} | dict(metadata)
            content_type: str | None = head.content_type or "application/octet-stream"
            directive: dict[str, Any] = {
                "MetadataDirective": "REPLACE",
                "ContentType": content_type,
                "Metadata": merged,
            }
            theirs = head.checksums.get("md5")
        else:  # a listing showed the size and ETag and nothing is merged: the copy keeps what the source has
            pin, theirs = src_etag, None
            merged, content_type, directive = {}, None, {"MetadataDirective": "COPY"}
        if src_size > MAX_COPY_SIZE:
            raise Unsupported(
                f"objects over {MAX_COPY_SIZE} bytes are not copied in one request",
                provider=self.provider,
                bucket=self.bucket,
                key=dst_key,
            )
        pinned = {"CopySourceIfMatch": quote_etag(pin)} if pin else {}
        resp = self.call(
            "copy",
            dst_key,
            lambda: self.client.copy_object(
                Bucket=self.bucket,
                Key=dst_key,
                CopySource={"Bucket": source.bucket, "Key": src_key},
                **directive,
                **self.encryption,
                **pinned,
            ),
        )
        result = resp.get("CopyObjectResult") or {}
        etag = unquote_etag(result.get("ETag"))
        info = ObjectInfo(
            key=dst_key,
            size=src_size,
            etag=etag,
            last_modified=_utc(result.get("LastModified")),
            content_type=content_type,
            metadata=merged,
            version=_version(resp.get("VersionId")),
            checksums=self._checksums(etag, resp),
        )
        ours = info.checksums.get("md5")
        if theirs and ours and theirs != ours:
            with contextlib.suppress(StorageError):
                self.delete(dst_key, None)
            raise IntegrityError(
                f"the copy's MD5 {ours} differs from the source's {theirs}",
                provider=self.provider,
                operation="copy",
                bucket=self.bucket,
                key=dst_key,
            )
        return info

    # -- listing ----------------------------------------------------------------------------------------
    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size or 1000}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if self.profile.list_version == 2:
            if token:
                kwargs["ContinuationToken"] = token
            if start_after:
                kwargs["StartAfter"] = start_after
            resp = self.call("list", prefix, lambda: self.client.list_objects_v2(**kwargs))
            next_token = resp.get("NextContinuationToken") if resp.get("IsTruncated") else None
        else:
            marker = token or start_after  # a token already lies past start_after
            if marker:
                kwargs["Marker"] = marker
            resp = self.call("list", prefix, lambda: self.client.list_objects(**kwargs))
            names = [o["Key"] for o in resp.get("Contents") or []] + [
                p["Prefix"] for p in resp.get("CommonPrefixes") or []
            ]
            next_token = (resp.get("NextMarker") or max(names, default=None)) if resp.get("IsTruncated") else None
        objects = []
        for o in resp.get("Contents") or []:
            etag = unquote_etag(o.get("ETag"))
            objects.append(
                ObjectInfo(
                    key=o["Key"],
                    size=int(o.get("Size") or 0),
                    etag=etag,
                    last_modified=_utc(o.get("LastModified")),
                    checksums=self._checksums(etag, {}),
                )
            )
        prefixes = [CommonPrefix(p["Prefix"]) for p in resp.get("CommonPrefixes") or []]
        return ListPage(objects, prefixes, next_token)

    # -- presign ----------------------------------------------------------------------------------------
    def presign(self, key: str, method: PresignMethod, expires: int, content_type: str | None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if method == "PUT" and content_type:
            params["ContentType"] = content_type
        url: str = self.client.generate_presigned_url(
            "get_object" if method == "GET" else "put_object", Params=params, ExpiresIn=expires, HttpMethod=method
        )
        return url


# -- request hooks (registered per client by S3Backend._install_hooks) -----------------------------------
def _create_only_rewriter(header: tuple[str, str]) -> Any:
    """Rewrite S3's ``If-None-Match: *`` into the provider's create-only header (OSS, COS)."""
    name, value = header

    def rewrite(params: dict[str, Any], **_: Any) -> None:
        headers = params["headers"]
        if headers.get("If-None-Match") == "*":
            del headers["If-None-Match"]
            headers[name] = value

    return rewrite


def _expect_continue_for_large_bodies(model: Any, params: dict[str, Any], **_: Any) -> None:
    """``Expect: 100-continue`` only for bodies over ``EXPECT_CONTINUE_ABOVE`` bytes (or of unknown size).

    botocore asks for it on every PUT with a file-like body, so each small write waits a round trip
    for the server's interim answer before sending a few bytes (~15% of a small PutObject's time on
    moto, ~8% of its client CPU; docs/benchmarks.md). The handshake pays off only for a large body a
    refused request would otherwise send in vain."""
    if model.http.get("method", "") not in ("PUT", "POST") or not hasattr(params.get("body"), "read"):
        return
    size = botocore.utils.determine_content_length(params["body"])
    if size is None or size > EXPECT_CONTINUE_ABOVE:
        params["headers"]["Expect"] = "100-continue"


def _content_md5_instead_of_crc(params: dict[str, Any], **_: Any) -> None:
    """DeleteObjects with ``Content-MD5`` (what pre-2025 S3 APIs require) instead of boto3's CRC32."""
    body = params.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    params["headers"]["Content-MD5"] = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    checksum = params.get("context", {}).get("checksum", {})
    checksum.pop("request_algorithm", None)
    checksum.pop("request_algorithm_header", None)


# -- small helpers -------------------------------------------------------------------------------------
@functools.cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session(botocore_session=_botocore_session())


def _botocore_session() -> botocore.session.Session:
    """A botocore session whose responses parse timestamps with ``_timestamp`` (botocore's default goes
    through dateutil at ~0.15 ms a call: three calls per object a sync copies, listing, HEAD and copy)."""
    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
    return session


def _timestamp(value: Any) -> datetime:
    """S3's two timestamp forms by the standard library: ISO 8601 in XML bodies, RFC 7231 dates in headers;
    anything else (epoch seconds, odd forms) by botocore's own parser."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(value)
    return botocore.utils.parse_timestamp(value)


def _chunks(body: Any) -> Iterator[bytes]:
    yield from body.iter_chunks(CHUNK)


def _byte_span(content_range: str | None, length: int) -> tuple[int, int]:
    """The first and last byte a GET answered with (``Content-Range: bytes a-b/total``, else 0..length-1)."""
    if content_range and content_range.startswith("bytes ") and "-" in content_range:
        span = content_range[len("bytes ") :].split("/", 1)[0]
        first, _, last = span.partition("-")
        if first.isdigit() and last.isdigit():
            return int(first), int(last)
    return 0, length - 1


def _incomplete(got: int, expected: int) -> bex.IncompleteReadError:
    """The body kept ending early: botocore's own error for it (a transient error)."""
    return bex.IncompleteReadError(actual_bytes=got, expected_bytes=expected)


# what a body cut short raises while it is read (botocore wraps some of urllib3's errors)
_CUT_SHORT = (bex.ResponseStreamingError, bex.IncompleteReadError, bex.ReadTimeoutError, Urllib3Error, OSError)


def _version(value: str | None) -> str | None:
    return None if not value or value == "null" else value


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _int_option(value: int | None, name: str, default: int, low: int, high: int) -> int:
    """A typed option's profile-dependent range (the type was checked by ``S3Options``)."""
    if value is None:
        return default
    if not low <= value <= high:
        raise InvalidArgument(f"s3 option {name} must be an integer in {low}..{high}, got {value!r}")
    return value


def open_backend(bucket: str, options: dict[str, Any]) -> Backend:
    """The registry's factory: ``S3Backend``, or with ``engine = "obstore"`` its obstore data path."""
    return by_engine(S3Backend, "core.storage.providers.s3_obstore:ObstoreS3Backend", bucket, options)
