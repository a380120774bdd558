"""``circle sync SRC DST`` and ``circle check SRC DST`` on the store-to-store engine (contract J1,
``core.handlers.sync``): a merge-join of the two sorted listings, parallel verified copies."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from circle_cli.errors import FAILURE, CliError, usage
from circle_cli.session import Session, session

if TYPE_CHECKING:
    from core.storage import ObjectStore

COMPARE = click.Choice(["etag", "size", "checksum"])


def _engine() -> Any:
    try:
        from core.handlers import sync as engine
    except ImportError:
        raise CliError("this build has no sync engine (core.handlers.sync is missing)", 2) from None
    return engine


def _store(s: Session, text: str) -> ObjectStore:
    """A location as a whole store: ``name:prefix/`` and ``scheme://bucket/prefix/`` scope to the prefix,
    a local directory is a ``file://`` store."""
    loc = s.location(text)
    if loc.is_local:
        assert loc.path is not None
        if loc.path.exists() and not loc.path.is_dir():
            raise usage(f"{text}: sync and check take directories, not files")
        from core.storage import open_store

        store = open_store(Path(loc.path).resolve().as_uri())
        s._opened.append(store)
        return store
    assert loc.store is not None
    return loc.store.scoped(loc.key) if loc.key else loc.store


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("--delete", is_flag=True, help="Also delete what DST holds and SRC does not.")
@click.option("--dry-run", is_flag=True, help="Print what would be copied and deleted; change nothing.")
@click.option("--compare", type=COMPARE, default="etag", show_default=True, help="What makes two objects equal.")
@click.option("--parallel", type=click.IntRange(1, 256), default=8, show_default=True, help="Concurrent transfers.")
@click.pass_context
def sync(ctx: click.Context, src: str, dst: str, delete: bool, dry_run: bool, compare: str, parallel: int) -> int:
    """Make DST hold what SRC holds: copy what is missing or different (one-way; DST-only objects stay
    unless --delete).

    \b
    circle sync primary:data/ backup:data/ --dry-run
    circle sync s3://incoming/ gs://replica/ --delete --parallel 32
    circle sync ./site/ web:public/ --compare checksum
    """
    s = session(ctx)
    engine = _engine()
    source, target = _store(s, src), _store(s, dst)
    with s.progress() as progress:
        on_progress = None
        if progress.show and not dry_run:
            sizes = [
                d.source.size
                for d in engine.check_stores(source, target, compare=compare)
                if d.source is not None and d.kind != "extra"
            ]
            bar = progress.bar(f"sync: {len(sizes)} to copy", sum(sizes))
            on_progress = _Aggregate(bar)
        report = engine.sync_stores(
            source,
            target,
            delete=delete,
            dry_run=dry_run,
            compare=compare,
            parallel=parallel,
            progress=on_progress,
        )
    data = report.as_dict()

    def human() -> None:
        for item in data.get("planned", []):
            click.echo(f"would {item['action']} {item['key']}")
        for failure in data.get("failures", []):
            click.echo(f"failed {failure['key']}: {failure['reason']}", err=True)
        verb = "would copy" if dry_run else "copied"
        click.echo(
            f"{data['scanned']} scanned, {verb} {data['copied']} ({data['bytes']} bytes), "
            f"{'would delete' if dry_run else 'deleted'} {data['deleted']}, {data['skipped']} unchanged, "
            f"{data['failed']} failed in {data['seconds']:.2f}s"
        )

    s.emit(data, human)
    return FAILURE if report.failed or not report.complete else 0


class _Aggregate:
    """Turns the engine's per-key ``progress(key, bytes so far)`` into one total for the bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.per_key: dict[str, int] = {}
        self.done = 0
        self.lock = threading.Lock()

    def __call__(self, key: str, so_far: int) -> None:
        with self.lock:
            self.done += so_far - self.per_key.get(key, 0)
            self.per_key[key] = so_far
            self.bar(self.done)


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("--compare", type=COMPARE, default="etag", show_default=True, help="What makes two objects equal.")
@click.pass_context
def check(ctx: click.Context, src: str, dst: str, compare: str) -> int:
    """List the differences between SRC and DST: ``missing`` (only in SRC), ``stale`` (different),
    ``extra`` (only in DST). Exit 1 when there is any.

    \b
    circle check primary:data/ backup:data/
    """
    s = session(ctx)
    engine = _engine()
    source, target = _store(s, src), _store(s, dst)
    found: list[dict[str, Any]] = []
    for diff in engine.check_stores(source, target, compare=compare):
        row = diff.as_dict()
        row["source_size"] = diff.source.size if diff.source is not None else None
        row["target_size"] = diff.target.size if diff.target is not None else None
        found.append(row)
        if not s.as_json:
            click.echo(f"{row['kind']:8} {row['key']}")
    if s.as_json:
        s.emit(found, lambda: None)
    elif not found:
        click.echo("no differences")
    return FAILURE if found else 0
