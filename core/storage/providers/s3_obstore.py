"""``s3://`` stores with ``engine = "obstore"``: the S3 backend with its small GETs and PUTs on obstore.

Only profiles whose create-only write is S3's own ``If-None-Match: *`` (or that have none) take this
engine: ``object_store`` cannot spell OSS's or COS's forbid-overwrite headers. The credentials are
the SDK backend's: the given keys, or boto3's credential chain through obstore's boto3 provider.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import boto3
from obstore.auth.boto3 import Boto3CredentialProvider
from obstore.store import S3Store

from ..errors import InvalidArgument
from ..options import S3Options
from . import obstore_io
from .s3 import S3Backend, _botocore_session

if TYPE_CHECKING:
    from obstore.store import S3Config


class ObstoreS3Backend(obstore_io.ObstoreDataPath, S3Backend):
    provider: ClassVar[str] = "s3"

    def _build_client(self, opts: S3Options) -> Any:
        if self.profile.create_only_header not in (None, ("If-None-Match", "*")):
            raise InvalidArgument(
                f"engine = obstore cannot send the {self.profile.name} profile's create-only header; use engine = sdk",
                provider=self.provider,
                bucket=self.bucket,
            )
        client = super()._build_client(opts)
        self.native = self._native_store(opts, client.meta.endpoint_url, client.meta.region_name)
        self.native_put_limit = self.multipart_threshold
        return client

    def _native_store(self, opts: S3Options, endpoint: str, region: str | None) -> S3Store:
        """The SDK client's endpoint (``endpoint_url``, the profile's, ``AWS_ENDPOINT_URL`` or AWS's own)."""
        virtual = self.profile.addressing_style == "virtual" and _named_host(endpoint)
        config: S3Config = {
            "region": region or "us-east-1",
            "virtual_hosted_style_request": virtual,
            "conditional_put": "etag",  # If-Match / If-None-Match on PutObject
        }
        parts = urlsplit(endpoint)  # object_store wants the bucket in a virtual-hosted endpoint
        config["endpoint"] = parts._replace(netloc=f"{self.bucket}.{parts.netloc}").geturl() if virtual else endpoint
        if self.encryption:
            config["server_side_encryption"] = "aws:kms"
            config["sse_kms_key_id"] = self.encryption["SSEKMSKeyId"]
        credentials: dict[str, Any] = {}
        if opts.access_key_id and not opts.aws_profile:
            credentials = {"access_key_id": opts.access_key_id, "secret_access_key": opts.secret_access_key}
            if opts.session_token:
                credentials["token"] = opts.session_token
        else:  # boto3's chain (env, files, SSO, IMDS), refreshed as boto3 refreshes it
            session = boto3.session.Session(
                aws_session_token=opts.session_token,
                profile_name=opts.aws_profile,
                botocore_session=_botocore_session(),
            )
            credentials = {"credential_provider": _LazyChain(session)}
        return S3Store(
            self.bucket,
            config=config,
            client_options=obstore_io.client_options(endpoint, opts.connect_timeout, opts.read_timeout),
            retry_config=obstore_io.NO_RETRIES,
            **credentials,
        )

    def native_checksums(self, etag: str | None, data: bytes) -> dict[str, str]:
        """The MD5 only when the answer's ETag is the MD5 of what was sent (never under SSE-KMS)."""
        if not self.capabilities.etag_is_md5 or not etag:
            return {}
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return {"md5": digest} if etag.lower() == digest else {}


def _named_host(endpoint: str) -> bool:
    """Whether a bucket can be a subdomain of the endpoint's host (not an IP address or localhost)."""
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


class _LazyChain:
    """obstore's boto3 provider, made on the first request: a store opens without credentials the way
    the SDK's does, and a missing credential fails the request (``Unauthenticated``), not the open."""

    def __init__(self, session: boto3.session.Session) -> None:
        self._session = session
        self._provider: Boto3CredentialProvider | None = None

    def __call__(self) -> Any:
        if self._provider is None:
            self._provider = Boto3CredentialProvider(self._session)
        return self._provider()
