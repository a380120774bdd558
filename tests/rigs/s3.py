"""S3 rig: a fresh (versioned) bucket on the moto server, optionally behind a loopback proxy (``via``)
and with an S3-compatible provider profile whose endpoint is overridden to point at moto.

``CIRCLE_S3_PROFILE=<profile> CIRCLE_RIGS=s3 pytest tests/conformance`` runs the shared suite per profile.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

from core.storage import ObjectStore, open_store
from core.storage.providers.s3_profiles import get_profile
from tests.rigs import RigContext

NAME = "s3"
NEEDS_EMULATORS = True
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
APPID = "1250000000"  # Tencent COS bucket names end in -<APPID>
MOTO_MIN_PART = 5 * 1024 * 1024  # moto enforces AWS's minimum part size whatever the profile says

# What moto does not do although the provider does: {gap: reason}. Tests of these are xfail(strict=True).
MOTO_GAPS = {
    "write_multi_with_if_match": "moto 5.2 ignores If-Match on CompleteMultipartUpload",
    "copy_with_if_none_match": "moto 5.2 ignores If-None-Match on CopyObject",
}
PROFILE_GAPS = {
    "alibaba": {"write_with_if_none_match": "moto ignores OSS's x-oss-forbid-overwrite header"},
    "tencent": {
        "write_with_if_none_match": "moto ignores COS's x-cos-forbid-overwrite header",
        "list_v1_delimiter_page_size": "moto's ListObjects (v1) does not count common prefixes towards MaxKeys",
    },
}


def emulator_gaps(profile: str | None = None) -> dict[str, str]:
    """Capabilities the store claims (true on the real service) that moto does not enforce."""
    profile = profile or os.environ.get("CIRCLE_S3_PROFILE") or "aws"
    caps = get_profile(profile).capabilities()
    gaps = {**MOTO_GAPS, **PROFILE_GAPS.get(profile, {})}
    if not caps.copy_with_if_none_match or not caps.write_with_if_none_match:
        gaps.pop("copy_with_if_none_match", None)
    if not caps.write_with_if_match:
        gaps.pop("write_multi_with_if_match", None)
    return gaps


def fresh_admin_client(endpoint: str) -> Any:
    """A plain boto3 client for test setup and inspection (bucket creation, multipart listings)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )


@functools.cache
def admin_client(endpoint: str) -> Any:
    """``fresh_admin_client`` made once per endpoint (client creation costs tens of milliseconds)."""
    return fresh_admin_client(endpoint)


def bucket_name(ctx: RigContext, profile: str | None) -> str:
    name = ctx.unique()
    return f"{name}-{APPID}" if profile == "tencent" else name


def make(ctx: RigContext, via: str | None = None, profile: str | None = None, **options: Any) -> ObjectStore:
    endpoint = ctx.emulators().s3_endpoint
    profile = profile or os.environ.get("CIRCLE_S3_PROFILE") or None  # run the shared suite per profile
    bucket = options.pop("bucket", None) or bucket_name(ctx, profile)
    admin = admin_client(endpoint)
    admin.create_bucket(Bucket=bucket)
    admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    settings: dict[str, Any] = {"endpoint_url": via or endpoint, "region": "us-east-1", **CREDENTIALS}
    if profile is not None:
        settings["profile"] = profile
        settings["region"] = get_profile(profile).example_regions[0]
        if "namespace" in get_profile(profile).required_options:
            settings["namespace"] = "circletest"
    settings.update(options)
    part = settings.get("part_size")
    if part is not None and part < MOTO_MIN_PART:
        # a smaller provider minimum (OSS 100 KiB, COS 1 MiB) cannot run on moto: keep the multipart
        # path (threshold at the requested size) with parts moto accepts
        settings["part_size"] = MOTO_MIN_PART
        settings.setdefault("multipart_threshold", part)
    return open_store(f"s3://{bucket}", **settings)
