"""What only the file store has to get right: the root boundary, symlinks, atomic commits, sidecars,
concurrency and the on-disk layout. (The shared behaviour is in tests/conformance.)"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from core.storage import (
    AlreadyExists,
    CommonPrefix,
    InvalidArgument,
    InvalidKey,
    NotFound,
    ObjectInfo,
    ObjectStore,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    Unsupported,
    open_store,
)
from core.storage.providers._common import md5_hex


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (sidecars and locks included) with its bytes."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def fs(root: Path) -> ObjectStore:
    return open_store(f"file://{root}")


def test_root_is_created_and_url_names_it(root: Path, fs: ObjectStore) -> None:
    assert root.is_dir()
    assert fs.url == f"file://{root}"
    assert repr(fs) == f"ObjectStore('file://{root}')"
    fs.put("a/b.txt", b"on disk")
    assert (root / "a" / "b.txt").read_bytes() == b"on disk"  # plain files other tools can read


def test_bad_roots_and_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        open_store("file://relative/path")
    with pytest.raises(InvalidArgument, match="colour"):
        open_store(f"file://{tmp_path}/r", colour="blue")
    (tmp_path / "afile").write_bytes(b"")
    with pytest.raises(StorageError):
        open_store(f"file://{tmp_path}/afile")


@pytest.mark.parametrize(
    "key",
    [
        "..",
        "../escape",
        "a/../../escape",
        "./a",
        "a/./b",
        "a//b",
        "/etc/passwd",
        "a/",
        "dir/",
        ".circle-meta/m/x",
        "a/.circle-meta",
        ".circle-tmp-1234",
        "a/.circle-tmp-x",
        "x" * 256 + "/y",
    ],
)
def test_keys_that_cannot_be_stored_are_refused_before_touching_disk(root: Path, fs: ObjectStore, key: str) -> None:
    fs.put("existing", b"1")
    before = tree(root)
    for op in (
        lambda: fs.put(key, b"data"),
        lambda: fs.get(key),
        lambda: fs.head(key),
        lambda: fs.delete(key),
        lambda: fs.copy("existing", key),
        lambda: fs.copy(key, "other"),
    ):
        with pytest.raises(InvalidKey) as caught:
            op()
        assert caught.value.provider == "file"
    assert tree(root) == before
    assert not (root.parent / "escape").exists()


def test_symlinked_folder_inside_root_is_never_followed(root: Path, fs: ObjectStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"outside data")
    fs.put("real/x", b"1")
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PermissionDenied, match="symlink"):
        fs.put("link/new.txt", b"escaped")
    with pytest.raises(PermissionDenied):
        fs.put("link/secret.txt", b"overwritten")
    with pytest.raises(PermissionDenied):
        fs.get("link/secret.txt")
    with pytest.raises(PermissionDenied):
        fs.copy("real/x", "link/copied")
    with pytest.raises(PermissionDenied):
        fs.delete("link/secret.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"outside data"
    assert [e.key for e in fs.list() if isinstance(e, ObjectInfo)] == ["real/x"]  # links are not listed


def test_symlinked_file_is_never_read_or_written_through(root: Path, fs: ObjectStore, tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"outside")
    (root / "leak").symlink_to(target)
    with pytest.raises(PermissionDenied):
        fs.get("leak")
    with pytest.raises(PermissionDenied):
        fs.head("leak")
    with pytest.raises(PermissionDenied):
        fs.put("leak", b"replaced")
    with pytest.raises(PermissionDenied):
        fs.delete("leak", if_match="0123456789abcdef0123456789abcdef")
    assert target.read_bytes() == b"outside"
    assert (root / "leak").is_symlink()
    assert list(fs.list()) == []


def test_failed_streaming_write_leaves_no_file_and_no_temp(root: Path, fs: ObjectStore) -> None:
    def failing() -> object:
        yield b"x" * 100_000
        raise RuntimeError("source broke")

    before = tree(root)
    with pytest.raises(RuntimeError, match="source broke"):
        fs.put("deep/er/obj", failing())  # type: ignore[arg-type]
    assert tree(root) == before
    assert not (root / "deep").exists()  # the folders the write made are gone too
    fs.put("deep/er/obj", b"old")
    with pytest.raises(RuntimeError):
        fs.put("deep/er/obj", failing())  # type: ignore[arg-type]
    assert fs.get("deep/er/obj").read() == b"old"
    assert not [p for p in tree(root) if ".circle-tmp-" in p]


def test_sidecar_holds_etag_content_type_and_metadata(root: Path, fs: ObjectStore) -> None:
    info = fs.put("docs/a.json", b"{}", content_type="application/json", metadata={"Owner": "me"})
    assert info.etag == md5_hex(b"{}")
    sidecar = json.loads((root / ".circle-meta" / "m" / "docs" / "a.json").read_bytes())
    assert sidecar["etag"] == info.etag
    assert sidecar["content_type"] == "application/json"
    assert sidecar["metadata"] == {"owner": "me"}
    assert [e.key for e in fs.list() if isinstance(e, ObjectInfo)] == ["docs/a.json"]  # sidecars hidden


def test_files_written_by_other_tools_are_objects(root: Path, fs: ObjectStore) -> None:
    (root / "dropped").mkdir()
    (root / "dropped" / "in.csv").write_bytes(b"a,b\n")
    head = fs.head("dropped/in.csv")
    assert (head.size, head.etag, head.content_type) == (4, md5_hex(b"a,b\n"), "application/octet-stream")
    assert [e.key for e in fs.list() if isinstance(e, ObjectInfo)] == ["dropped/in.csv"]
    fs.put("tracked", b"v1", content_type="text/plain")
    (root / "tracked").write_bytes(b"changed by hand")  # the sidecar no longer describes the file
    head = fs.head("tracked")
    assert head.etag == md5_hex(b"changed by hand")
    assert head.content_type == "application/octet-stream"
    with pytest.raises(PreconditionFailed):
        fs.put("tracked", b"v2", if_match=md5_hex(b"v1"))


def test_file_and_folder_clash_is_a_typed_error(root: Path, fs: ObjectStore) -> None:
    fs.put("x", b"file")
    with pytest.raises(InvalidKey, match="both file and folder"):
        fs.put("x/y", b"under a file")
    with pytest.raises(NotFound):
        fs.get("x/y")
    fs.put("d/e/f", b"1")
    with pytest.raises(InvalidKey):
        fs.put("d", b"over a folder")
    with pytest.raises(NotFound):
        fs.head("d")
    fs.delete("d/e/f")
    assert not (root / "d").exists()  # deletes prune empty folders...
    fs.put("d", b"now a file")  # ...so the name is free again
    assert fs.get("d").read() == b"now a file"


def test_listing_order_matches_cloud_order(fs: ObjectStore, root: Path) -> None:
    for key in ["a/b", "a-b", "a0", "a/a", "b", "a.c/d", "日本", "Z"]:
        fs.put(key, b"")
    expected = sorted(["a/b", "a-b", "a0", "a/a", "b", "a.c/d", "日本", "Z"])
    assert [e.key for e in fs.list() if isinstance(e, ObjectInfo)] == expected
    (root / "empty" / "nested").mkdir(parents=True)  # leftovers that hold no object
    entries = list(fs.list(delimiter="/"))
    assert [e.prefix for e in entries if isinstance(e, CommonPrefix)] == ["a.c/", "a/"]
    page1 = fs.list_page(page_size=3)
    page2 = fs.list_page(page_size=3, token=page1.next_token)
    assert [o.key for o in page1.objects + page2.objects] == expected[:6]


def test_concurrent_compare_and_swap_loses_no_update(fs: ObjectStore) -> None:
    fs.put("counter", b"0")
    wins: list[int] = []

    def worker() -> None:
        done = 0
        while done < 5:
            with fs.get("counter") as reader:
                value, etag = int(reader.read()), reader.info.etag
            try:
                fs.put("counter", str(value + 1).encode(), if_match=etag)
            except PreconditionFailed:
                continue
            done += 1
        wins.append(done)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(wins) == 30
    assert fs.get("counter").read() == b"30"


def test_concurrent_create_only_has_one_winner(fs: ObjectStore) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            fs.put("lease", str(i).encode(), if_none_match="*")
            outcomes.append("won")
        except AlreadyExists:
            outcomes.append("lost")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert fs.head("lease").etag == md5_hex(fs.get("lease").read())


def test_nested_root_via_url_is_a_scope(root: Path, fs: ObjectStore) -> None:
    inner = open_store(f"file://{root}/scope")
    inner.put("k", b"inner")
    assert (root / "scope" / "k").read_bytes() == b"inner"
    assert fs.get("scope/k").read() == b"inner"
    assert [e.key for e in fs.list() if isinstance(e, ObjectInfo)] == ["scope/k"]  # no sidecars leak
    assert [e.key for e in inner.list() if isinstance(e, ObjectInfo)] == ["k"]


def test_presign_is_unsupported(fs: ObjectStore) -> None:
    assert not fs.capabilities.presign_read and not fs.capabilities.presign_write
    with pytest.raises(Unsupported):
        fs.presign("k")
    with pytest.raises(Unsupported):
        fs.presign("k", "PUT")


def test_reader_close_releases_descriptor(fs: ObjectStore) -> None:
    fs.put("fd", b"x" * 10)
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(50):
        with fs.get("fd") as reader:
            reader.read(1)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) <= before + 2


def test_concurrent_puts_and_deletes_sharing_folders(root: Path, fs: ObjectStore) -> None:
    """Deletes prune empty folders while other writers create files in them: no write may fail."""
    errors: list[str] = []

    def worker(seed: int) -> None:
        for n in range(120):
            key = f"a/b{(seed + n) % 3}/c{(seed * 7 + n) % 4}"
            try:
                if (seed + n) % 2:
                    fs.put(key, f"{seed}-{n}".encode())
                else:
                    fs.delete(key)
                list(fs.list("a/"))
            except StorageError as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    for entry in fs.list():
        assert isinstance(entry, ObjectInfo)
        assert entry.etag == md5_hex(fs.get(entry.key).read())
    assert not [p for p in tree(root) if ".circle-tmp-" in p]


def _bounded(fn: Callable[[], object], seconds: float = 10.0) -> object:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it blocks. Returns its result or error."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the operation blocked (a FIFO opened without O_NONBLOCK?)"
    return outcome[0]


def test_a_fifo_inside_the_root_is_refused_without_blocking(root: Path, fs: ObjectStore) -> None:
    fs.put("dir/real.txt", b"data")
    os.mkfifo(root / "dir" / "pipe")
    for op in (lambda: fs.head("dir/pipe"), lambda: fs.get("dir/pipe"), lambda: fs.copy("dir/pipe", "dir/copy")):
        error = _bounded(op)
        assert isinstance(error, NotFound), error
        assert "not a regular file" in str(error)
    assert _bounded(lambda: fs.exists("dir/pipe")) is False
    listed = _bounded(lambda: [getattr(o, "key", None) for o in fs.list("dir/")])
    assert listed == ["dir/real.txt"]  # the FIFO is no object
    # the key's lock stripe was released: a write to the same key proceeds (a regular file replaces the FIFO)
    written = _bounded(lambda: fs.put("dir/pipe", b"x"))
    assert not isinstance(written, BaseException), written
    assert fs.get("dir/pipe").read() == b"x"
