"""What every command shares: the configuration (loaded on first use), locations, output and logging."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from circle_cli.errors import CliError, usage

if TYPE_CHECKING:
    from core.config import Config
    from core.storage import ObjectStore

_STORE_NAME = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*):(.*)$", re.S)


@dataclass
class Location:
    """Where a command reads or writes: a key in a store, or a local path."""

    text: str
    store: ObjectStore | None = None
    key: str = ""
    path: Path | None = None
    size: int | None = None  # known from a listing

    @property
    def is_local(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        if self.store is None:
            return str(self.path)
        return f"{self.store.url.rstrip('/')}/{self.key}"


#: what every LogRecord carries; anything else on a record came through ``extra=``
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class _OneLine(logging.Formatter):
    """``WARNING circle.storage.retry: message key=value ...``: one line per record, its ``extra``
    fields (the core logs a constant message and the values as fields) rendered after the message."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and value is not None
        )
        message = " ".join(f"{record.getMessage()} {fields}".split())
        return f"{record.levelname} {record.name}: {message}"


class Session:
    def __init__(
        self,
        *,
        config_path: str | None = None,
        env: str | None = None,
        as_json: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        engine: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.engine = engine
        self.env = env
        self.as_json = as_json
        self.quiet = quiet
        self.verbose = verbose
        self._config: Config | None = None
        self._opened: list[ObjectStore] = []

    # -- logging ----------------------------------------------------------------------------------------
    def setup_logging(self) -> None:
        """WARNING lines of the ``circle`` loggers on stderr (retries among them), INFO with -v."""
        logger = logging.getLogger("circle")
        for handler in list(logger.handlers):
            if getattr(handler, "_circle_cli", False):
                logger.removeHandler(handler)
        handler = logging.StreamHandler(sys.stderr)
        handler._circle_cli = True  # type: ignore[attr-defined]
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if self.verbose else logging.ERROR if self.quiet else logging.WARNING)
        logger.propagate = False

    # -- configuration ----------------------------------------------------------------------------------
    def config_file(self) -> str | None:
        if self.config_path:
            return self.config_path
        return "circle.toml" if Path("circle.toml").is_file() else None

    @property
    def has_config(self) -> bool:
        return self.config_file() is not None

    @property
    def config(self) -> Config:
        """The configuration (``--config``, ``CIRCLE_CONFIG`` or ./circle.toml), loaded and checked once."""
        if self._config is None:
            path = self.config_file()
            if path is None:
                raise usage("no configuration: pass --config circle.toml or set CIRCLE_CONFIG")
            if not Path(path).is_file():
                raise usage(f"{path}: no such configuration file")
            from core.config import load_config

            self._config = load_config(path, env=self.env)
        return self._config

    # -- locations --------------------------------------------------------------------------------------
    def location(self, text: str, *, local_ok: bool = True) -> Location:
        """``name:key`` (a configured store), ``scheme://bucket/key`` or a local path."""
        if "://" in text:
            scheme, rest = text.split("://", 1)
            if scheme.lower() == "file":
                return self._local(text, Path("/" + rest.lstrip("/")), local_ok)
            bucket, _, key = rest.partition("/")
            if not bucket and scheme.lower() != "memory":
                raise usage(f"{text}: the URL names no bucket or container")
            return Location(text, self._open_url(scheme.lower(), bucket), key)
        match = _STORE_NAME.match(text)
        if match and not Path(text).exists():
            name, key = match.groups()
            stores = self.config.stores
            if name not in stores:
                known = ", ".join(sorted(stores)) or "none"
                raise usage(f"{text}: no store named {name!r} in the configuration (stores: {known})")
            return Location(text, self.open_store(name), key)
        return self._local(text, Path(text), local_ok)

    @staticmethod
    def _local(text: str, path: Path, local_ok: bool) -> Location:
        if not local_ok:
            raise usage(f"{text}: expected a store location (name:key or scheme://bucket/key), not a local path")
        return Location(text, path=path)

    def open_store(self, name: str) -> ObjectStore:
        store = self.config.open(name, **self._engine_for(self.config.stores[name].scheme))
        self._opened.append(store)
        return store

    def _engine_for(self, scheme: str) -> dict[str, Any]:
        """``{"engine": ...}`` from ``--engine`` for a store kind that has the option, else nothing."""
        from core.storage.registry import lookup

        if self.engine is None or "engine" not in lookup(scheme).options.specs():
            return {}
        return {"engine": self.engine}

    def _open_url(self, scheme: str, bucket: str) -> ObjectStore:
        """The bucket's store; a configured store on the same bucket lends its options (credentials,
        endpoint), so ``s3://bucket/key`` works wherever ``name:key`` does."""
        from core.storage import open_store

        options: dict[str, Any] = {}
        if self.has_config:
            for configured in self.config.stores.values():
                if configured.scheme == scheme and configured.bucket == bucket:
                    options = dict(configured.options)
                    break
        store = open_store(f"{scheme}://{bucket}", **{**options, **self._engine_for(scheme)})
        self._opened.append(store)
        return store

    def echo_lines(self, lines: Iterable[str]) -> Callable[[], None]:
        """A ``human`` printer for ``emit``: one line each."""

        def human() -> None:
            for line in lines:
                click.echo(line)

        return human

    def close(self) -> None:
        for store in self._opened:
            store.close()
        self._opened.clear()

    # -- output -----------------------------------------------------------------------------------------
    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """``data`` as JSON with ``--json``, else whatever ``human`` prints."""
        if self.as_json:
            click.echo(json.dumps(data, default=str, indent=None))
        else:
            human()

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
        """A table: rich's on a terminal, aligned plain columns otherwise (pipes, tests)."""
        rows = [[("" if v is None else str(v)) for v in row] for row in rows]
        if sys.stdout.isatty():
            from rich.console import Console
            from rich.table import Table

            table = Table(*headers, title=title)
            for row in rows:
                table.add_row(*row)
            Console().print(table)
            return
        if title:
            click.echo(title)
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
        for row in rows:
            click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())

    def progress(self) -> Progress:
        """Progress bars on a terminal (stderr), nothing otherwise or with --quiet/--json."""
        show = sys.stderr.isatty() and not self.quiet and not self.as_json
        if os.environ.get("CIRCLE_PROGRESS") == "always":  # tests and recordings
            show = not self.quiet and not self.as_json
        return Progress(show)


class Progress:
    """A thin switch over rich.progress: bytes, rate and ETA per transfer; a no-op when hidden."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self._rich: Any = None

    def __enter__(self) -> Progress:
        if self.show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True, force_terminal=os.environ.get("CIRCLE_PROGRESS") == "always"),
                transient=False,
            )
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)

    def bar(self, description: str, total: int | None) -> Callable[[int], None]:
        """A callback taking the bytes done so far (contract P1's ``progress=``)."""
        if self._rich is None:
            return _ignore
        task = self._rich.add_task(description, total=total)
        rich = self._rich
        return lambda done: rich.update(task, completed=done)


def _ignore(done: int) -> None:
    """No progress shown."""


def session(ctx: click.Context) -> Session:
    obj = ctx.find_root().obj
    if not isinstance(obj, Session):
        raise CliError("internal: no session")
    return obj
