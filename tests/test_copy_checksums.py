"""What a streaming copy checks, and at what cost (core.storage.checksums): CRC32C (hardware) where the
source states one, or states none and the destination reports one; MD5 otherwise, and also for a small
object the destination reports an MD5 for. A stated checksum the bytes do not match fails the copy
and leaves no object behind. Real stores: fake-gcs-server, moto, memory."""

from __future__ import annotations

import base64
import dataclasses
import os
from typing import Any

import google_crc32c
import pytest

from core.storage import IntegrityError, ObjectInfo, copy_object, open_store
from core.storage.checksums import MD5_TOO_UP_TO, streamed_digests
from scripts.emulators import Emulators
from tests.jobs.support import bucket_name

MiB = 1024 * 1024


@pytest.fixture
def stores(emulators: Emulators) -> dict[str, Any]:
    bucket = bucket_name("sums")
    emulators.create_buckets(bucket)
    opts = emulators.store_options()
    return {
        "gs": open_store(f"gs://{bucket}", **opts["gs"]),
        "s3": open_store(f"s3://{bucket}", **opts["s3"]),
        "memory": open_store(f"memory://{bucket}"),
    }


def _info(size: int, **checksums: str) -> ObjectInfo:
    return ObjectInfo(key="k", size=size, checksums=checksums)


def test_the_cheapest_comparable_checksum_is_streamed(stores: dict[str, Any]) -> None:
    gs, s3, memory = stores["gs"], stores["s3"], stores["memory"]
    large, small = MD5_TOO_UP_TO + 1, 10
    assert set(streamed_digests(_info(large, crc32c="x", md5="y"), s3)) == {"crc32c"}  # GCS source, big
    assert set(streamed_digests(_info(small, crc32c="x", md5="y"), s3)) == {"crc32c", "md5"}  # S3 states MD5
    assert set(streamed_digests(_info(large, md5="y"), gs)) == {"md5"}  # the source's own MD5 is checked
    assert set(streamed_digests(_info(large), gs)) == {"crc32c"}  # nothing stated; GCS reports CRC32C
    assert set(streamed_digests(_info(large), memory)) == {"md5"}


def test_a_large_copy_from_gcs_is_checked_by_crc32c(stores: dict[str, Any]) -> None:
    data = os.urandom(9 * MiB + 3)
    stores["gs"].put("big", data)
    expected = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
    assert stores["gs"].head("big").checksums["crc32c"] == expected
    info = copy_object(stores["gs"], "big", stores["s3"], "copy")
    assert info.size == len(data)
    assert stores["s3"].get("copy").read() == data


class StatesWrongCRC32C:
    """A real store whose reads state a CRC32C the bytes do not have (a corrupted read, as seen by the copy)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get(self, key: str, **kwargs: Any) -> Any:
        reader = self._store.get(key, **kwargs)
        reader.info = dataclasses.replace(reader.info, checksums={**reader.info.checksums, "crc32c": "AAAAAA=="})
        return reader


@pytest.mark.parametrize("size", [10, 9 * MiB], ids=["small", "large"])
def test_a_crc32c_mismatch_fails_the_copy_and_leaves_nothing(stores: dict[str, Any], size: int) -> None:
    stores["gs"].put("k", os.urandom(size))
    with pytest.raises(IntegrityError, match="CRC32C AAAAAA=="):
        copy_object(StatesWrongCRC32C(stores["gs"]), "k", stores["s3"], "copy")  # type: ignore[arg-type]
    assert not [o for o in stores["s3"].list() if isinstance(o, ObjectInfo)]
