"""What a store can do, as typed data.

Naming follows OpenDAL's scheme: ``<operation>[_with_<option>]`` for flags, ``<operation>_<limit>`` for
limits. Code paths consult these flags; tests are gated by them; an operation a store cannot do raises
``Unsupported`` instead of silently doing something weaker.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Capabilities:
    read: bool = True
    read_with_range: bool = True
    read_with_if_match: bool = True
    write: bool = True
    write_can_empty: bool = True
    write_with_content_type: bool = True
    write_with_metadata: bool = True
    write_with_if_none_match: bool = True  # conditional create ("create-only")
    write_with_if_match: bool = True  # compare-and-swap on the ETag
    write_multi: bool = True  # streaming upload of unknown length in parts
    write_multi_min_size: int = 5 * MiB  # smallest non-final part
    write_multi_max_size: int = 5 * 1024 * MiB  # largest part
    write_multi_max_parts: int = 10_000
    delete: bool = True
    delete_with_if_match: bool = True
    delete_many_max: int = 1  # keys per native batch request; 1 means one request per key
    list: bool = True
    list_with_delimiter: bool = True
    list_with_start_after: bool = True
    list_max_page_size: int = 1000
    copy: bool = True  # server-side copy within the store
    copy_with_if_none_match: bool = True
    presign_read: bool = False
    presign_write: bool = False
    versioning: bool = False  # ObjectInfo.version is set
    etag_is_md5: bool = False  # single-part uploads only
    checksums: frozenset[str] = frozenset()  # kinds ObjectInfo.checksums may carry: "md5", "crc32c", ...

    def as_dict(self) -> dict[str, object]:
        """Flags and limits by name (for docs tables and the HTTP API)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, frozenset) else value
        return out
