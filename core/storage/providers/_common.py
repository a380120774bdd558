"""Small helpers shared by providers (listing over a sorted key set, ETags, checksums)."""

from __future__ import annotations

import base64
import hashlib
import importlib
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from ..api import Backend, CommonPrefix, ListPage, ObjectInfo

T = TypeVar("T")


#: times one read asks again for a body cut short, from the byte where it stopped (rclone's reader resumes too)
RESUMES = 3


def resumed(
    opened: tuple[Iterable[bytes], Callable[[], None]],
    open_at: Callable[[int], tuple[Iterable[bytes], Callable[[], None]]],
    start: int,
    last: int,
    cut_short: tuple[type[BaseException], ...],
    incomplete: Callable[[int, int], BaseException],
) -> Generator[bytes]:
    """Bytes ``start``..``last`` (inclusive) of one object: the body ``opened`` (its chunks and its close),
    and after a cut (an error in ``cut_short``, or an early end) the bodies ``open_at(offset)`` opens
    from the byte where it stopped, up to ``RESUMES`` times; then the last error, or
    ``incomplete(bytes read, bytes expected)``.
    ``open_at`` pins the object (its ETag) and has the store's retries; each body is closed when done."""
    offset, resumes, body = start, 0, opened
    while True:
        chunks, close = body
        try:
            for chunk in chunks:
                if chunk:
                    offset += len(chunk)
                    yield chunk
        except cut_short:
            if resumes >= RESUMES:
                raise
        finally:
            close()
        if offset > last:
            return
        if resumes >= RESUMES:
            raise incomplete(offset - start, last + 1 - start)
        resumes += 1
        body = open_at(offset)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def b64_to_hex(value: str | None) -> str | None:
    """``Content-MD5`` style base64 digest to hex (as ``ObjectInfo.checksums['md5']`` holds it)."""
    if not value:
        return None
    return base64.b64decode(value).hex()


def paginate_sorted(
    infos: Iterable[ObjectInfo],
    prefix: str,
    delimiter: str | None,
    page_size: int,
    token: str | None,
    start_after: str | None,
) -> ListPage:
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


def upload_parts(parts: Iterable[bytes], send: Callable[[int, bytes], T], concurrency: int) -> list[T]:
    """Send numbered parts with at most ``concurrency`` in flight (and so in memory), returning the
    results in part order. The first failure stops new sends and is raised once in-flight ones end."""
    if concurrency <= 1:
        return [send(i, part) for i, part in enumerate(parts)]
    results: dict[int, T] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="circle-upload") as pool:
        pending: set[Future[tuple[int, T]]] = set()

        def collect(block: bool) -> None:
            done, _ = wait(pending, return_when=FIRST_COMPLETED if block else ALL_COMPLETED, timeout=None)
            for future in done:
                pending.discard(future)
                index, result = future.result()  # raises the part's error
                results[index] = result

        try:
            for index, part in enumerate(parts):
                if len(pending) >= concurrency:
                    collect(block=True)
                pending.add(pool.submit(lambda i=index, p=part: (i, send(i, p))))  # type: ignore[misc]
            collect(block=False)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [results[i] for i in range(len(results))]


def by_engine(
    sdk: Callable[[str, dict[str, Any]], Backend], native: str, bucket: str, options: dict[str, Any]
) -> Backend:
    """The backend a store's ``engine`` option names: the SDK's, or ``native`` (``module:Class``, the
    obstore data path, imported only when a store asks for it)."""
    if options.get("engine", "sdk") != "obstore":
        return sdk(bucket, options)
    from ..registry import ProviderNotInstalled

    module_name, _, attr = native.partition(":")
    try:
        cls: Callable[[str, dict[str, Any]], Backend] = getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError as exc:
        raise ProviderNotInstalled(
            f"engine = obstore needs {exc.name or 'obstore'}, which is not installed:"
            " pip install 'circle-core[obstore]'"
        ) from None
    return cls(bucket, options)
