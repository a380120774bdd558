"""The checksum a streaming copy computes alongside the bytes, to compare with what the stores state.

MD5 costs about 1.4 ms of CPU per MiB; CRC32C, in hardware through google-crc32c (installed with the
GCS extra), about 0.04 ms. A copy of 100 MiB spent a third of its own CPU on MD5, on two cores it
shares with the servers. So a copy computes the cheapest kind that can be compared: CRC32C when the
source states one (GCS), or states no checksum and the destination reports CRC32C; otherwise MD5, as
before. A small object (at most ``MD5_TOO_UP_TO``) also gets MD5 when the destination reports MD5, so
its write is still checked against the service's own digest; a large one goes up in parts, and S3's
multipart ETag and Azure's block lists state no MD5 to compare with.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from .api import ObjectInfo

if TYPE_CHECKING:
    from .store import ObjectStore

MD5_TOO_UP_TO = 8 * 1024 * 1024


class Digest(Protocol):
    def update(self, data: bytes) -> None: ...

    def value(self) -> str:
        """As ``ObjectInfo.checksums`` spells this kind."""
        ...


class _MD5:
    def __init__(self) -> None:
        self._hash = hashlib.md5(usedforsecurity=False)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def value(self) -> str:
        return self._hash.hexdigest()


class _CRC32C:
    def __init__(self, module: Any) -> None:
        self._checksum = module.Checksum()

    def update(self, data: bytes) -> None:
        self._checksum.update(data)

    def value(self) -> str:  # base64 of the big-endian value, as GCS and S3 state it
        return base64.b64encode(self._checksum.digest()).decode()


def streamed_digests(src: ObjectInfo, dst_store: ObjectStore) -> dict[str, Digest]:
    """The digests to compute while copying ``src`` into ``dst_store`` (see the module docstring)."""
    stated, reported = src.checksums, dst_store.capabilities.checksums
    crc32c = _crc32c_module() if "crc32c" in stated or ("md5" not in stated and "crc32c" in reported) else None
    if crc32c is None:
        return {"md5": _MD5()}
    digests: dict[str, Digest] = {"crc32c": _CRC32C(crc32c)}
    if "md5" in reported and src.size <= MD5_TOO_UP_TO:
        digests["md5"] = _MD5()
    return digests


def _crc32c_module() -> Any:
    """google-crc32c's C implementation, or None (not installed, or only its slow pure-Python fallback)."""
    try:
        import google_crc32c
    except ImportError:
        return None
    return google_crc32c if google_crc32c.implementation == "c" else None
