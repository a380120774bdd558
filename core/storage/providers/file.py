"""Local-folder store (``file:///abs/path``): atomic writes, ETags, conditions and listings like a cloud.

Layout under the root (created if missing)::

    <root>/<key>                        the object's bytes, at the path its key names
    <root>/.circle-meta/m/<key>         sidecar JSON: etag (MD5), content type, metadata
    <root>/.circle-meta/locks/<n>       64 lock files; a key's writes serialise on one (``flock``)

Every path is opened relative to a directory descriptor with ``O_NOFOLLOW``, so no operation follows
a symlink: nothing is ever read or written outside the root. Writes go to a temp file in the target
folder, are fsynced, then committed with ``os.replace`` (or ``os.link`` for create-only, which fails
atomically if the name exists). The sidecar records the data file's inode, size and mtime; a sidecar
that does not match its file (a crash between the two renames, or a file written by another tool) is
ignored and the ETag is recomputed from the bytes. POSIX only (``fcntl``, ``dir_fd``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from ..api import Backend, Body, ByteRange, CommonPrefix, ListPage, ObjectInfo, ObjectReader, WriteOptions
from ..capabilities import Capabilities
from ..errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidKey,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
)

META_DIR = ".circle-meta"  # reserved as a key segment at every level
TMP_PREFIX = ".circle-tmp-"  # reserved as the start of a key segment
LOCK_STRIPES = 64
CHUNK = 1024 * 1024
NAME_MAX = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: opening a FIFO (or a device) that sits in the root must not wait for a writer while the
# key's lock stripe is held; the descriptor is then refused unless it is a regular file.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class FileBackend(Backend):
    """Objects as files under one root folder."""

    provider: ClassVar[str] = "file"
    capabilities = Capabilities(
        write_multi_min_size=0,
        delete_many_max=1000,
        presign_read=False,
        presign_write=False,
        versioning=False,
        etag_is_md5=True,
        checksums=frozenset({"md5"}),
    )

    def __init__(self, bucket: str, options: dict[str, Any] | None = None) -> None:
        if options:
            raise InvalidArgument(f"file stores take no options, got {sorted(options)}", provider="file")
        self.bucket = bucket
        if not bucket or not os.path.isabs(bucket):
            raise InvalidArgument(
                f"a file store needs an absolute path (file:///abs/path), got {bucket!r}", provider="file"
            )
        try:
            os.makedirs(bucket, exist_ok=True)
            self._root = os.path.realpath(bucket)
            for sub in ("m", "locks"):
                os.makedirs(os.path.join(self._root, META_DIR, sub), exist_ok=True)
        except OSError as exc:
            raise self.translate(exc, "open", None) from exc
        self.bucket = self._root

    # -- errors ---------------------------------------------------------------------------------------
    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        if isinstance(exc, StorageError):
            return exc
        cls: type[StorageError] = StorageError
        msg = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOENT:
                cls = NotFound
            elif exc.errno == errno.EEXIST:
                cls = AlreadyExists
            elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                cls = PermissionDenied
            elif exc.errno == errno.ELOOP:
                cls, msg = PermissionDenied, "the path goes through a symlink, which is never followed"
            elif exc.errno in (errno.ENOTDIR, errno.EISDIR):
                cls = InvalidKey
                msg = "the key clashes with another object (a local path cannot be both file and folder)"
            elif exc.errno == errno.ENAMETOOLONG:
                cls = InvalidKey
        return cls(msg, provider=self.provider, operation=operation, bucket=self.bucket, key=key)

    def _err(self, cls: type[StorageError], msg: str, op: str, key: str | None) -> StorageError:
        return cls(msg, provider=self.provider, operation=op, bucket=self.bucket, key=key)

    @contextlib.contextmanager
    def _os(self, op: str, key: str | None) -> Iterator[None]:
        """Translate ``OSError`` raised by local file operations (not by callers' iterables)."""
        try:
            yield
        except StorageError:
            raise  # our errors are OSErrors too (NotFound is a FileNotFoundError)
        except OSError as exc:
            raise self.translate(exc, op, key) from exc

    # -- keys and paths -------------------------------------------------------------------------------
    def _segments(self, key: str, op: str) -> list[str]:
        """Split a key into path segments, refusing anything that could escape the root or alias."""
        problem = None
        if "\x00" in key:
            problem = "the key contains NUL"
        elif key.startswith("/"):
            problem = "a key cannot start with '/' on a file store"
        elif key.endswith("/"):
            problem = "a key cannot end with '/' on a file store (it names a folder)"
        parts = key.split("/")
        for part in parts if problem is None else []:
            if part == "":
                problem = "a key cannot contain an empty segment ('a//b') on a file store"
            elif part in (".", ".."):
                problem = f"a key cannot contain a {part!r} segment on a file store"
            elif part == META_DIR or part.startswith(TMP_PREFIX):
                problem = f"{part!r} is reserved by the file store"
            elif len(part.encode("utf-8", "surrogatepass")) > NAME_MAX:
                problem = f"a key segment may be at most {NAME_MAX} bytes on a file store"
            if problem:
                break
        if problem:
            raise self._err(InvalidKey, problem, op, key.replace("\x00", "\\0"))
        return parts

    def _open_root(self) -> int:
        return os.open(self._root, _DIR_FLAGS)

    def _open_dir(self, top: int, names: Iterable[str], create: bool) -> int:
        """A descriptor for ``top/names...``, never following a symlink; ``create`` makes folders."""
        fd = os.dup(top)
        try:
            for name in names:
                try:
                    try:
                        nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    except FileNotFoundError:
                        if not create:
                            raise
                        with contextlib.suppress(FileExistsError):
                            os.mkdir(name, 0o777, dir_fd=fd)
                        nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except (NotADirectoryError, OSError) as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_symlink(fd, name):
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from exc
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextlib.contextmanager
    def _dirs(self, parts: list[str], create: bool) -> Iterator[tuple[int, int]]:
        """(data folder, sidecar folder or -1) descriptors for a key's segments."""
        root = self._open_root()
        fds: list[int] = []
        try:
            fds.append(self._open_dir(root, parts[:-1], create))
            try:
                fds.append(self._open_dir(root, [META_DIR, "m", *parts[:-1]], create))
            except (FileNotFoundError, NotADirectoryError):
                if create:
                    raise
                fds.append(-1)  # no sidecars here: files written by another tool
            yield fds[0], fds[1]
        finally:
            for fd in (root, *fds):
                if fd >= 0:
                    os.close(fd)

    @contextlib.contextmanager
    def _lock(self, key: str, exclusive: bool) -> Iterator[None]:
        """Serialise commits of one key across threads and processes (``flock`` is per open file)."""
        stripe = (
            int(hashlib.md5(key.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest(), 16) % LOCK_STRIPES
        )
        path = os.path.join(self._root, META_DIR, "locks", str(stripe))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # -- object info ----------------------------------------------------------------------------------
    def _read_sidecar(self, meta_dir: int, name: str) -> dict[str, Any] | None:
        if meta_dir < 0:
            return None
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=meta_dir)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                value = json.loads(f.read())
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        return value if isinstance(value, dict) else None

    def _info_for(self, key: str, fd: int, meta: dict[str, Any] | None, op: str) -> ObjectInfo:
        """Build the info of the open data file ``fd``, trusting the sidecar only if it describes it."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a folder, FIFO, socket or device is never an object
            raise self._err(NotFound, "no such object (the path is not a regular file)", op, key)
        if meta and [meta.get("ino"), meta.get("size"), meta.get("mtime_ns")] == [
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
        ]:
            etag = str(meta["etag"])
            content_type = str(meta.get("content_type") or DEFAULT_CONTENT_TYPE)
            metadata = {str(k): str(v) for k, v in dict(meta.get("metadata") or {}).items()}
        else:  # written by another tool, or a crash between the two renames: derive from the bytes
            etag = _md5_of_fd(fd)
            content_type, metadata = DEFAULT_CONTENT_TYPE, {}
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=etag,
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=content_type,
            metadata=metadata,
            checksums={"md5": etag},
        )

    def _open_object(self, key: str, parts: list[str], op: str, *, locked: bool = False) -> tuple[int, ObjectInfo]:
        """Open a key's data file and read its info consistently (under the key's shared lock unless
        the caller already holds the exclusive one: ``flock`` would deadlock on a second descriptor)."""
        with contextlib.ExitStack() as stack:
            if not locked:
                stack.enter_context(self._lock(key, exclusive=False))
            data_dir, meta_dir = stack.enter_context(self._dirs(parts, create=False))
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=data_dir)
            try:
                info = self._info_for(key, fd, self._read_sidecar(meta_dir, parts[-1]), op)
            except BaseException:
                os.close(fd)
                raise
            return fd, info
        raise AssertionError("unreachable")

    def _current(self, key: str, parts: list[str], op: str) -> ObjectInfo | None:
        """The key's info while the caller holds its exclusive lock, or None if it does not exist."""
        try:
            fd, info = self._open_object(key, parts, op, locked=True)
        except (FileNotFoundError, NotADirectoryError, NotFound):
            return None
        os.close(fd)
        return info

    # -- operations -----------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        parts = self._segments(key, "head")
        with self._os("head", key):
            fd, info = self._missing_is_not_found(lambda: self._open_object(key, parts, "head"), "head", key)
            os.close(fd)
        return info

    def _missing_is_not_found(self, fn: Callable[[], Any], op: str, key: str) -> Any:
        try:
            return fn()
        except StorageError:
            raise  # already typed (NotFound is a FileNotFoundError too)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._err(NotFound, "no such object", op, key) from None

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        parts = self._segments(key, "get")
        with self._os("get", key):
            fd, info = self._missing_is_not_found(lambda: self._open_object(key, parts, "get"), "get", key)
        if if_match and if_match != info.etag:
            os.close(fd)
            raise self._err(PreconditionFailed, "ETag does not match", "get", key)
        start, end = rng.resolve(info.size) if rng else (0, info.size)

        def chunks() -> Iterator[bytes]:
            pos = start
            while pos < end:
                chunk = os.pread(fd, min(CHUNK, end - pos), pos)
                if not chunk:
                    return
                pos += len(chunk)
                yield chunk

        return ObjectReader(
            chunks(), info, close=lambda: os.close(fd), translate=lambda exc: self.translate(exc, "get", key)
        )

    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        parts = self._segments(key, "put")
        sidecar = {"content_type": opts.content_type or DEFAULT_CONTENT_TYPE, "metadata": dict(opts.metadata)}
        return self._write(key, parts, body.parts(CHUNK), sidecar, opts.if_none_match, opts.if_match, "put")

    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo:
        src_parts = self._segments(src_key, "copy")
        dst_parts = self._segments(dst_key, "copy")
        with self._os("copy", src_key):
            fd, info = self._missing_is_not_found(
                lambda: self._open_object(src_key, src_parts, "copy"), "copy", src_key
            )
        try:
            chunks = iter(lambda: os.read(fd, CHUNK), b"")
            sidecar = {"content_type": info.content_type or DEFAULT_CONTENT_TYPE, "metadata": dict(info.metadata)}
            return self._write(dst_key, dst_parts, chunks, sidecar, if_none_match, None, "copy")
        finally:
            os.close(fd)

    def _write(
        self,
        key: str,
        parts: list[str],
        chunks: Iterable[bytes],
        sidecar: dict[str, Any],
        create_only: bool,
        if_match: str | None,
        op: str,
    ) -> ObjectInfo:
        """Stream to a temp file beside the target, then commit data and sidecar under the key's lock."""
        name = parts[-1]
        tmp = f"{TMP_PREFIX}{uuid.uuid4().hex}"
        with self._os(op, key):
            root = self._open_root()
            data_dir = -1
            try:
                data_dir, fd = self._create_in(root, parts[:-1], tmp)
                md5, size, st = self._fill_temp(fd, chunks)
                record = {**sidecar, "etag": md5, "size": size, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns}
                with self._lock(key, exclusive=True):
                    current = self._current(key, parts, op)
                    if create_only and current is not None:
                        raise self._err(AlreadyExists, "the object exists", op, key)
                    if if_match is not None and current is None:
                        raise self._err(NotFound, "no such object", op, key)
                    if if_match is not None and current is not None and current.etag != if_match:
                        raise self._err(PreconditionFailed, "ETag does not match", op, key)
                    if create_only:
                        try:
                            os.link(tmp, name, src_dir_fd=data_dir, dst_dir_fd=data_dir, follow_symlinks=False)
                        except FileExistsError:
                            raise self._err(AlreadyExists, "the object exists", op, key) from None
                    else:
                        os.replace(tmp, name, src_dir_fd=data_dir, dst_dir_fd=data_dir)
                    self._write_sidecar(root, parts, record)
                    os.fsync(data_dir)
            except BaseException:
                if data_dir >= 0:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp, dir_fd=data_dir)
                    self._prune(parts[:-1])  # folders this failed write made
                raise
            finally:
                if data_dir >= 0:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp, dir_fd=data_dir)
                    os.close(data_dir)
                os.close(root)
        return ObjectInfo(
            key=key,
            size=size,
            etag=md5,
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=sidecar["content_type"],
            metadata=sidecar["metadata"],
            checksums={"md5": md5},
        )

    def _create_in(self, root: int, folders: list[str], name: str) -> tuple[int, int]:
        """Make ``folders`` and create ``name`` in them: (folder fd, file fd). Retries if a concurrent
        delete pruned a just-made empty folder (a folder holding our temp file is never pruned)."""
        for attempt in range(10):
            dir_fd = -1
            try:
                dir_fd = self._open_dir(root, folders, create=True)
                return dir_fd, os.open(name, _TMP_FLAGS, 0o666, dir_fd=dir_fd)
            except FileNotFoundError:
                if dir_fd >= 0:
                    os.close(dir_fd)
                if attempt == 9:
                    raise
        raise AssertionError("unreachable")

    def _fill_temp(self, fd: int, chunks: Iterable[bytes]) -> tuple[str, int, os.stat_result]:
        """Write ``chunks`` to ``fd`` (MD5 computed on the way), fsync, close. The caller unlinks on error."""
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            for chunk in chunks:
                md5.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return md5.hexdigest(), size, st

    def _write_sidecar(self, root: int, parts: list[str], record: dict[str, Any]) -> None:
        tmp = f"{TMP_PREFIX}{uuid.uuid4().hex}"
        meta_dir, fd = self._create_in(root, [META_DIR, "m", *parts[:-1]], tmp)
        try:
            try:
                os.write(fd, json.dumps(record, sort_keys=True).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, parts[-1], src_dir_fd=meta_dir, dst_dir_fd=meta_dir)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=meta_dir)
            os.close(meta_dir)

    def delete(self, key: str, if_match: str | None) -> None:
        parts = self._segments(key, "delete")
        with self._os("delete", key), self._lock(key, exclusive=True):
            if if_match is not None:
                current = self._current(key, parts, "delete")
                if current is None:
                    raise self._err(NotFound, "no such object", "delete", key)
                if current.etag != if_match:
                    raise self._err(PreconditionFailed, "ETag does not match", "delete", key)
            try:
                with self._dirs(parts, create=False) as (data_dir, meta_dir):
                    try:
                        st = os.stat(parts[-1], dir_fd=data_dir, follow_symlinks=False)
                    except FileNotFoundError:
                        st = None
                    if st is not None and not stat.S_ISREG(st.st_mode):
                        return  # a folder or symlink is not an object
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(parts[-1], dir_fd=data_dir)
                    if meta_dir >= 0:
                        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                            os.unlink(parts[-1], dir_fd=meta_dir)
            except (FileNotFoundError, NotADirectoryError):
                return
            self._prune(parts[:-1])
            self._prune([META_DIR, "m", *parts[:-1]], keep=2)

    def _prune(self, folders: list[str], keep: int = 0) -> None:
        """Remove folders left empty by a delete, deepest first (a non-empty one stops the walk)."""
        root = self._open_root()
        try:
            for depth in range(len(folders), keep, -1):
                try:
                    parent = self._open_dir(root, folders[: depth - 1], create=False)
                except OSError:
                    return
                try:
                    os.rmdir(folders[depth - 1], dir_fd=parent)
                except OSError:
                    return
                finally:
                    os.close(parent)
        finally:
            os.close(root)

    # -- listing --------------------------------------------------------------------------------------
    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage:
        after = max(filter(None, [token, start_after]), default=None)
        limit = page_size or self.capabilities.list_max_page_size
        objects: list[ObjectInfo] = []
        prefixes: list[CommonPrefix] = []
        last: str | None = None
        with self._os("list", prefix):
            root = self._open_root()
            try:
                for key, is_folder in self._walk(root, "", prefix, after, collapse=delimiter == "/"):
                    name = key
                    if delimiter and not is_folder:
                        cut = key.find(delimiter, len(prefix))
                        if cut >= 0:
                            name, is_folder = key[: cut + len(delimiter)], True
                    if (after is not None and name <= after) or name == last:
                        continue
                    if is_folder:
                        entry: ObjectInfo | CommonPrefix | None = CommonPrefix(name)
                    else:
                        entry = self._list_info(key)
                        if entry is None:
                            continue  # deleted while listing
                    if len(objects) + len(prefixes) == limit:
                        return ListPage(objects, prefixes, last)
                    last = name
                    if isinstance(entry, CommonPrefix):
                        prefixes.append(entry)
                    elif entry is not None:
                        objects.append(entry)
            finally:
                os.close(root)
        return ListPage(objects, prefixes, None)

    def _list_info(self, key: str) -> ObjectInfo | None:
        try:
            fd, info = self._open_object(key, key.split("/"), "list")
        except (FileNotFoundError, NotADirectoryError, NotFound, PermissionError):
            return None
        os.close(fd)
        return info

    def _walk(
        self, dir_fd: int, base: str, prefix: str, after: str | None, collapse: bool
    ) -> Iterator[tuple[str, bool]]:
        """Keys (and, with ``collapse``, non-empty folders as ``(name + "/", True)``) in sorted key order.

        A folder sorts as ``name + "/"`` so ``a-b`` comes before ``a/x`` as in a cloud listing.
        """
        entries: list[tuple[str, bool]] = []
        with os.scandir(dir_fd) as it:
            for entry in it:
                name = entry.name
                if name == META_DIR or name.startswith(TMP_PREFIX) or entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    entries.append((base + name + "/", True))
                elif entry.is_file(follow_symlinks=False):
                    entries.append((base + name, False))
        entries.sort()
        for full, is_dir in entries:
            if not is_dir:
                if full.startswith(prefix) and (after is None or full > after):
                    yield full, False
                continue
            if not (full.startswith(prefix) or prefix.startswith(full)):
                continue
            if after is not None and after >= full and not after.startswith(full):
                continue  # every key in this folder sorts before ``after``
            try:
                sub = os.open(full[len(base) : -1], _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # removed or replaced by a symlink meanwhile
            try:
                if collapse and full.startswith(prefix) and len(full) > len(prefix):
                    if _has_file(sub):
                        yield full, True
                    continue
                yield from self._walk(sub, full, prefix, after, collapse)
            finally:
                os.close(sub)


def _has_file(dir_fd: int) -> bool:
    """Whether a folder holds an object at any depth (empty leftovers are not common prefixes)."""
    with os.scandir(dir_fd) as it:
        entries = list(it)
    for entry in entries:
        if entry.name == META_DIR or entry.name.startswith(TMP_PREFIX) or entry.is_symlink():
            continue
        if entry.is_file(follow_symlinks=False):
            return True
        if entry.is_dir(follow_symlinks=False):
            try:
                sub = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                if _has_file(sub):
                    return True
            finally:
                os.close(sub)
    return False


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _md5_of_fd(fd: int) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    pos = 0
    while chunk := os.pread(fd, CHUNK, pos):
        md5.update(chunk)
        pos += len(chunk)
    return md5.hexdigest()
