"""S3-compatible providers as data (rclone's model): one frozen ``S3Profile`` per provider.

Adding a provider means adding an entry here and running the shared suite with ``profile=<name>``;
``S3Backend`` reads every quirk from the profile and holds no per-provider branches. The docs table
in docs/storage/s3.md is rendered from ``PROFILES`` by ``profiles_table()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ..capabilities import Capabilities, MiB
from ..errors import InvalidArgument

AddressingStyle = Literal["virtual", "path", "auto"]
ChecksumMode = Literal["when_supported", "when_required"]


@dataclass(frozen=True, slots=True)
class S3Profile:
    """One S3-compatible provider's endpoint and quirks."""

    name: str
    title: str
    endpoint: str | None  # template with {region} (and {namespace}); None: boto3's own AWS resolution
    addressing_style: AddressingStyle
    example_regions: tuple[str, ...] = ()
    required_options: tuple[str, ...] = ()  # extra options the endpoint template needs
    # boto3 >= 1.36 sends CRC32 on every upload by default; most compatibles reject or mis-store it.
    checksum_mode: ChecksumMode = "when_required"
    delete_many_needs_md5: bool = True  # DeleteObjects must carry Content-MD5 (not x-amz-checksum-*)
    min_part_size: int = 5 * MiB
    max_parts: int = 10_000
    etag_is_md5: bool = True  # for single-part uploads without SSE-KMS/SSE-C
    list_version: Literal[1, 2] = 2
    # Conditional requests the provider honours (an unhonoured header would silently be ignored).
    create_only_header: tuple[str, str] | None = None  # header spelling create-only; None: unsupported
    write_if_match: bool = False  # PutObject / CompleteMultipartUpload If-Match
    copy_if_none_match: bool = False  # create-only on CopyObject
    delete_if_match: bool = False  # DeleteObject If-Match
    read_if_match: bool = True  # GetObject If-Match (plain HTTP, honoured everywhere)
    bucket_pattern: str | None = None  # a regex bucket names must match, with why in bucket_rule
    bucket_rule: str = ""
    response_checksums: bool = False  # send ChecksumMode=ENABLED so CRC32/CRC32C/SHA256 are returned
    notes: tuple[str, ...] = field(default=())

    @property
    def create_only_native(self) -> bool:
        """True when create-only is S3's own ``If-None-Match: *`` (no header rewrite needed)."""
        return self.create_only_header == ("If-None-Match", "*")

    def capabilities(self) -> Capabilities:
        """The ``Capabilities`` a store on this provider has."""
        return Capabilities(
            read_with_if_match=self.read_if_match,
            write_with_if_none_match=self.create_only_header is not None,
            write_with_if_match=self.write_if_match,
            write_multi_min_size=self.min_part_size,
            write_multi_max_parts=self.max_parts,
            delete_with_if_match=self.delete_if_match,
            delete_many_max=1000,
            copy_with_if_none_match=self.copy_if_none_match and self.create_only_header is not None,
            presign_read=True,
            presign_write=True,
            versioning=True,
            etag_is_md5=self.etag_is_md5,
            checksums=frozenset({"md5"} if self.etag_is_md5 else set())
            | (
                frozenset({"crc32", "crc32c", "sha1", "sha256", "crc64nvme"})
                if self.response_checksums
                else frozenset()
            ),
        )

    def endpoint_for(self, region: str | None, namespace: str | None) -> str | None:
        """The endpoint URL for ``region`` (None: let boto3 resolve AWS endpoints itself)."""
        if self.endpoint is None:
            return None
        if not region:
            raise InvalidArgument(
                f"the {self.name} S3 profile needs region= (e.g. "
                f"{', '.join(self.example_regions[:3])}) or endpoint_url="
            )
        if "{namespace}" in self.endpoint and not namespace:
            raise InvalidArgument(
                f"the {self.name} S3 profile needs namespace= (the tenancy's Object Storage namespace) or endpoint_url="
            )
        return self.endpoint.format(region=region, namespace=namespace)

    def check_bucket(self, bucket: str) -> None:
        if self.bucket_pattern and not re.fullmatch(self.bucket_pattern, bucket):
            raise InvalidArgument(f"bucket {bucket!r} is not valid on {self.title}: {self.bucket_rule}")


AWS = S3Profile(
    name="aws",
    title="Amazon S3",
    endpoint=None,
    addressing_style="virtual",
    example_regions=("us-east-1", "eu-west-1", "ap-southeast-2"),
    checksum_mode="when_supported",
    delete_many_needs_md5=False,
    create_only_header=("If-None-Match", "*"),
    write_if_match=True,
    copy_if_none_match=True,
    delete_if_match=True,
    response_checksums=True,
    notes=(
        "Conditional writes (If-None-Match/If-Match) on PutObject, CompleteMultipartUpload, "
        "CopyObject and DeleteObject.",
    ),
)

DIGITALOCEAN = S3Profile(
    name="digitalocean",
    title="DigitalOcean Spaces",
    endpoint="https://{region}.digitaloceanspaces.com",
    addressing_style="virtual",
    example_regions=("nyc3", "ams3", "sgp1", "fra1", "sfo3"),
    notes=(
        "Conditional writes are not documented, so create-only and compare-and-swap are "
        "reported Unsupported rather than silently ignored.",
    ),
)

OCI = S3Profile(
    name="oci",
    title="Oracle Cloud Object Storage",
    endpoint="https://{namespace}.compat.objectstorage.{region}.oci.customer-oci.com",
    addressing_style="path",
    example_regions=("us-ashburn-1", "eu-frankfurt-1", "ap-tokyo-1"),
    required_options=("namespace",),
    min_part_size=10 * MiB,
    etag_is_md5=False,
    notes=(
        "The older endpoint https://{namespace}.compat.objectstorage.{region}.oraclecloud.com "
        "still works; pass it as endpoint_url= if needed.",
        "ETags are opaque, not MD5s.",
    ),
)

IBM = S3Profile(
    name="ibm",
    title="IBM Cloud Object Storage",
    endpoint="https://s3.{region}.cloud-object-storage.appdomain.cloud",
    addressing_style="virtual",
    example_regions=("us-south", "eu-de", "jp-tok"),
)

ALIBABA = S3Profile(
    name="alibaba",
    title="Alibaba Cloud OSS",
    endpoint="https://oss-{region}.aliyuncs.com",
    addressing_style="virtual",
    example_regions=("cn-hangzhou", "cn-shanghai", "eu-central-1"),
    create_only_header=("x-oss-forbid-overwrite", "true"),
    copy_if_none_match=True,
    min_part_size=100 * 1024,
    notes=(
        "Virtual-hosted addressing only.",
        "Create-only is x-oss-forbid-overwrite: true; no If-Match on writes or deletes.",
        "ETags are upper-case hex.",
    ),
)

TENCENT = S3Profile(
    name="tencent",
    title="Tencent Cloud COS",
    endpoint="https://cos.{region}.myqcloud.com",
    addressing_style="virtual",
    example_regions=("ap-guangzhou", "ap-shanghai", "ap-singapore"),
    list_version=1,
    create_only_header=("x-cos-forbid-overwrite", "true"),
    copy_if_none_match=True,
    min_part_size=1 * MiB,
    bucket_pattern=r"[a-z0-9][a-z0-9-]*-[0-9]{5,}",
    bucket_rule="COS bucket names end in -<APPID> (e.g. photos-1250000000)",
    notes=("Create-only is x-cos-forbid-overwrite: true.", "ListObjects v1."),
)

PROFILES: dict[str, S3Profile] = {p.name: p for p in (AWS, DIGITALOCEAN, OCI, IBM, ALIBABA, TENCENT)}
DEFAULT_PROFILE = "aws"


def get_profile(name: str | None) -> S3Profile:
    """The named profile (``aws`` when None); an unknown name is an ``InvalidArgument`` listing them."""
    try:
        return PROFILES[name or DEFAULT_PROFILE]
    except KeyError:
        raise InvalidArgument(f"unknown S3 profile {name!r}; expected one of {', '.join(PROFILES)}") from None


def profiles_table() -> str:
    """A Markdown table of every profile's quirks (pasted into docs/storage/s3.md)."""
    cols = [
        "profile",
        "endpoint",
        "addressing",
        "checksums",
        "DeleteObjects MD5",
        "min part",
        "ETag=MD5",
        "list",
        "create-only",
        "If-Match put / If-Match delete / create-only copy",
    ]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for p in PROFILES.values():
        create = f"`{p.create_only_header[0]}: {p.create_only_header[1]}`" if p.create_only_header else "no"
        cells = [
            f"`{p.name}`",
            f"`{p.endpoint}`" if p.endpoint else "boto3 default",
            p.addressing_style,
            p.checksum_mode,
            _yn(p.delete_many_needs_md5),
            _size(p.min_part_size),
            _yn(p.etag_is_md5),
            f"v{p.list_version}",
            create,
            "/".join(_yn(x) for x in (p.write_if_match, p.delete_if_match, p.copy_if_none_match)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n // 1024} KiB"
