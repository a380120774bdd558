"""Small helpers shared by providers (listing over a sorted key set, ETags, checksums)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from ..api import CommonPrefix, ListPage, ObjectInfo


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def b64_to_hex(value: str | None) -> str | None:
    """``Content-MD5`` style base64 digest to hex (as ``ObjectInfo.checksums['md5']`` holds it)."""
    if not value:
        return None
    return base64.b64decode(value).hex()


def paginate_sorted(infos: Iterable[ObjectInfo], prefix: str, delimiter: str | None, page_size: int,
                    token: str | None, start_after: str | None) -> ListPage:
    """List a sorted stream of objects like S3 does: prefix, delimiter, start_after, page tokens.

    The token is the last key (or common prefix) returned, so a page resumes after it.
    """
    after = max(filter(None, [token, start_after]), default=None)
    objects: list[ObjectInfo] = []
    prefixes: list[CommonPrefix] = []
    last: str | None = None
    for info in infos:
        key = info.key
        if not key.startswith(prefix):
            continue
        entry: ObjectInfo | CommonPrefix = info
        name = key
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                name = key[: cut + len(delimiter)]
                entry = CommonPrefix(name)
        if after is not None and name <= after:
            continue
        if last == name:
            continue  # same common prefix again
        if len(objects) + len(prefixes) == page_size:
            return ListPage(objects, prefixes, last)
        last = name
        if isinstance(entry, CommonPrefix):
            prefixes.append(entry)
        else:
            objects.append(entry)
    return ListPage(objects, prefixes, None)
