"""Object commands: ls, cat, cp, mv, rm, stat, presign, over any store and local files."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from circle_cli.errors import CliError, usage
from circle_cli.session import Location, Session, session

if TYPE_CHECKING:
    from core.storage import ObjectInfo

CHUNK = 1024 * 1024


def info_dict(info: ObjectInfo) -> dict[str, Any]:
    return {
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "last_modified": info.last_modified.isoformat() if info.last_modified else None,
        "content_type": info.content_type,
        "metadata": dict(info.metadata),
        "version": info.version,
        "checksums": dict(info.checksums),
    }


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# -- ls ----------------------------------------------------------------------------------------------------
@click.command()
@click.argument("location", required=False)
@click.option("-r", "--recursive", is_flag=True, help="Every object under the prefix, not one level.")
@click.option("-l", "--long", "long_", is_flag=True, help="Size, modification time and ETag too.")
@click.pass_context
def ls(ctx: click.Context, location: str | None, recursive: bool, long_: bool) -> None:
    """List the configured stores (no LOCATION), or the objects and "directories" under LOCATION.

    \b
    circle ls                      # the stores of circle.toml
    circle ls backup:data/         # one level under data/ in store "backup"
    circle ls -rl s3://bucket/logs/
    """
    s = session(ctx)
    if location is None:
        _list_stores(s)
        return
    loc = s.location(location, local_ok=False)
    assert loc.store is not None
    from core.storage import CommonPrefix

    entries: list[dict[str, Any]] = []
    for item in loc.store.list(loc.key, delimiter=None if recursive else "/"):
        if isinstance(item, CommonPrefix):
            entries.append({"prefix": item.prefix})
        else:
            entries.append(info_dict(item))
        if not s.as_json:
            _print_entry(entries[-1], long_)
    if s.as_json:
        s.emit(entries, lambda: None)


def _print_entry(entry: dict[str, Any], long_: bool) -> None:
    if "prefix" in entry:
        click.echo(f"{'PRE':>10}  {entry['prefix']}" if long_ else entry["prefix"])
    elif long_:
        when = (entry["last_modified"] or "")[:19].replace("T", " ")
        click.echo(f"{entry['size']:>10}  {when:19}  {entry['etag'] or '':34}  {entry['key']}")
    else:
        click.echo(entry["key"])


def _list_stores(s: Session) -> None:
    config = s.config
    rows = [
        {
            "name": name,
            "url": store.url,
            "provider": store.provider,
            "degraded": list(config.degraded_targets.get(name, ())),
        }
        for name, store in sorted(config.stores.items())
    ]
    s.emit(
        rows,
        lambda: s.table(
            ["store", "url", "provider", "best-effort target (lacks)"],
            [(r["name"], r["url"], r["provider"], ", ".join(r["degraded"])) for r in rows],
        ),
    )


# -- cat / stat / presign ------------------------------------------------------------------------------------
@click.command()
@click.argument("locations", nargs=-1, required=True)
@click.pass_context
def cat(ctx: click.Context, locations: tuple[str, ...]) -> None:
    """Write the objects' bytes to stdout, streamed (``circle cat backup:data/a.csv | head``)."""
    s = session(ctx)
    if s.as_json:  # stdout holds the bytes themselves: there is nothing to put in JSON
        raise usage("cat writes the objects' raw bytes, so --json does not apply (circle --json stat shows metadata)")
    out = sys.stdout.buffer
    for text in locations:
        loc = _remote_key(s, text)
        assert loc.store is not None
        with loc.store.get(loc.key) as reader:
            for chunk in reader:
                out.write(chunk)
    out.flush()


@click.command()
@click.argument("location")
@click.pass_context
def stat(ctx: click.Context, location: str) -> None:
    """One object's size, ETag, modification time, content type, version, metadata and checksums."""
    s = session(ctx)
    loc = _remote_key(s, location)
    assert loc.store is not None
    data = info_dict(loc.store.head(loc.key))
    data["url"] = loc.describe()

    def human() -> None:
        for field in ("url", "size", "etag", "last_modified", "content_type", "version"):
            click.echo(f"{field + ':':15}{data[field] if data[field] is not None else '-'}")
        for name, value in sorted(data["checksums"].items()):
            click.echo(f"{name + ':':15}{value}")
        for name, value in sorted(data["metadata"].items()):
            click.echo(f"{'meta ' + name + ':':15}{value}")

    s.emit(data, human)


@click.command()
@click.argument("location")
@click.option("--method", type=click.Choice(["GET", "PUT"], case_sensitive=False), default="GET", show_default=True)
@click.option("--expires", type=click.IntRange(1), default=3600, show_default=True, help="Seconds the URL is valid.")
@click.option("--content-type", help="PUT: the content type the upload must send.")
@click.pass_context
def presign(ctx: click.Context, location: str, method: str, expires: int, content_type: str | None) -> None:
    """Print a URL that grants GET (download) or PUT (upload) of one key, signed locally."""
    s = session(ctx)
    loc = _remote_key(s, location)
    assert loc.store is not None
    url = loc.store.presign(loc.key, method.upper(), expires, content_type=content_type)  # type: ignore[arg-type]
    s.emit({"url": url, "method": method.upper(), "expires": expires}, lambda: click.echo(url))


def _remote_key(s: Session, text: str) -> Location:
    loc = s.location(text, local_ok=False)
    if not loc.key or loc.key.endswith("/"):
        raise usage(f"{text}: names a prefix, not an object key")
    return loc


# -- cp / mv --------------------------------------------------------------------------------------------------
@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("-r", "--recursive", is_flag=True, help="Copy every object under the SRC prefix.")
@click.option("--no-verify", is_flag=True, help="Skip the size/MD5 check of each copy.")
@click.pass_context
def cp(ctx: click.Context, src: str, dst: str, recursive: bool, no_verify: bool) -> None:
    """Copy SRC to DST: store to store (streamed, verified), a local file up or an object down.

    \b
    circle cp report.csv backup:data/           # upload, keeps the name
    circle cp primary:data/a.csv gs://bucket/a.csv
    circle cp -r primary:data/ archive:2026/data/
    """
    s = session(ctx)
    done = _copy_all(s, src, dst, recursive=recursive, verify=not no_verify)
    s.emit({"copied": done}, s.echo_lines(f"copied {a} -> {b}" for a, b in done))


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("-r", "--recursive", is_flag=True, help="Move every object under the SRC prefix.")
@click.pass_context
def mv(ctx: click.Context, src: str, dst: str, recursive: bool) -> None:
    """Move SRC to DST: copy (verified), then delete the source only if the copy succeeded."""
    s = session(ctx)
    done = _copy_all(s, src, dst, recursive=recursive, verify=True, move=True)
    s.emit({"moved": done}, s.echo_lines(f"moved {a} -> {b}" for a, b in done))


def _copy_all(
    s: Session, src: str, dst: str, *, recursive: bool, verify: bool, move: bool = False
) -> list[tuple[str, str]]:
    source = s.location(src)
    target = s.location(dst)
    if source.is_local and target.is_local:
        raise usage("both locations are local: use cp/mv of your shell")
    pairs = list(_pairs(source, target, recursive))
    done: list[tuple[str, str]] = []
    with s.progress() as progress:
        for a, b in pairs:
            total = _size_hint(a) if progress.show else None
            _copy_one(a, b, verify, progress.bar(Path(a.key or str(a.path)).name, total))
            if move:
                if a.is_local:
                    assert a.path is not None
                    a.path.unlink()
                else:
                    assert a.store is not None
                    a.store.delete(a.key)
            done.append((a.describe(), b.describe()))
    return done


def _pairs(source: Location, target: Location, recursive: bool) -> Iterator[tuple[Location, Location]]:
    """(source, target) per object. A target ending in "/" (or an existing directory) takes the name."""
    if not recursive:
        if source.is_local:
            assert source.path is not None
            if source.path.is_dir():
                raise usage(f"{source.text}: is a directory (use -r)")
            if not source.path.is_file():
                raise CliError(f"{source.text}: no such file")
        elif not source.key or source.key.endswith("/"):
            raise usage(f"{source.text}: names a prefix; use -r to copy everything under it")
        name = source.path.name if source.path is not None else source.key.rsplit("/", 1)[-1]
        yield source, _child(target, name, into=_is_container(target))
        return
    if source.is_local:
        assert source.path is not None
        if not source.path.is_dir():
            raise usage(f"{source.text}: -r needs a directory")
        for path in sorted(p for p in source.path.rglob("*") if p.is_file()):
            rel = path.relative_to(source.path).as_posix()
            yield Location(str(path), path=path), _child(target, rel, into=True)
        return
    assert source.store is not None
    prefix = source.key
    from core.storage import ObjectInfo

    for item in source.store.list(prefix):
        if isinstance(item, ObjectInfo):
            rel = item.key[len(prefix) :].lstrip("/") if prefix.endswith("/") or not prefix else item.key[len(prefix) :]
            yield (
                Location(item.key, store=source.store, key=item.key, size=item.size),
                _child(target, rel.lstrip("/"), into=True),
            )


def _is_container(loc: Location) -> bool:
    if loc.is_local:
        assert loc.path is not None
        return loc.path.is_dir() or loc.text.endswith(("/", os.sep))
    return not loc.key or loc.key.endswith("/")


def _child(target: Location, name: str, *, into: bool) -> Location:
    if not into:
        return target
    if target.is_local:
        assert target.path is not None
        path = target.path / name
        return Location(str(path), path=path)
    key = target.key if not target.key or target.key.endswith("/") else target.key + "/"
    return Location(target.text, store=target.store, key=key + name)


def _size_hint(loc: Location) -> int | None:
    """The bar's total (so it can show an ETA): a file's size, the listed size, else one HEAD."""
    if loc.is_local:
        assert loc.path is not None
        return loc.path.stat().st_size
    if loc.size is None:
        assert loc.store is not None
        loc.size = loc.store.head(loc.key).size
    return loc.size


def _copy_one(a: Location, b: Location, verify: bool, progress: Callable[[int], None]) -> None:
    if not a.is_local and not b.is_local:
        from core.storage import copy_object

        assert a.store is not None and b.store is not None
        copy_object(a.store, a.key, b.store, b.key, verify=verify, progress=progress)
    elif a.is_local:
        assert a.path is not None and b.store is not None
        import mimetypes

        content_type = mimetypes.guess_type(a.path.name)[0]
        with open(a.path, "rb") as fh:
            b.store.put(b.key, _counted(fh, progress), content_type=content_type)
    else:
        assert a.store is not None and b.path is not None
        _download(a, b.path, progress)


def _counted(fh: Any, progress: Callable[[int], None]) -> Iterator[bytes]:
    done = 0
    progress(0)
    while chunk := fh.read(CHUNK):
        done += len(chunk)
        yield chunk
        progress(done)


def _download(a: Location, path: Path, progress: Callable[[int], None]) -> None:
    """Stream into a temp file beside ``path``, then rename: a failed download leaves nothing."""
    assert a.store is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, a.store.get(a.key) as reader:
            done = 0
            progress(0)
            for chunk in reader:
                out.write(chunk)
                done += len(chunk)
                progress(done)
            if done != reader.info.size:
                raise CliError(f"{a.describe()}: read {done} bytes, the object has {reader.info.size}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- rm ---------------------------------------------------------------------------------------------------
@click.command()
@click.argument("locations", nargs=-1, required=True)
@click.option("-r", "--recursive", is_flag=True, help="Delete every object under each prefix.")
@click.option("-f", "--force", is_flag=True, help="No error for a key that does not exist.")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted, delete nothing.")
@click.pass_context
def rm(ctx: click.Context, locations: tuple[str, ...], recursive: bool, force: bool, dry_run: bool) -> None:
    """Delete objects; with -r every object under a prefix (native batch deletes)."""
    s = session(ctx)
    from core.storage import ObjectInfo

    deleted: list[str] = []
    for text in locations:
        loc = s.location(text, local_ok=False)
        store = loc.store
        assert store is not None
        if recursive:
            keys = [i.key for i in store.list(loc.key) if isinstance(i, ObjectInfo)]
            if not dry_run:
                failures = store.delete_many(keys)
                if failures:
                    first = failures[0]
                    raise CliError(f"{len(failures)} of {len(keys)} deletes failed; {first.key}: {first.error}")
            deleted += [f"{store.url.rstrip('/')}/{k}" for k in keys]
            continue
        if not loc.key or loc.key.endswith("/"):
            raise usage(f"{text}: names a prefix; use -r to delete everything under it")
        if not force and not store.exists(loc.key):
            raise CliError(f"{text}: no such object")
        if not dry_run:
            store.delete(loc.key)
        deleted.append(loc.describe())
    verb = "would delete" if dry_run else "deleted"
    s.emit(
        {"deleted" if not dry_run else "would_delete": deleted},
        s.echo_lines(f"{verb} {d}" for d in deleted),
    )
