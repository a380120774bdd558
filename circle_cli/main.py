"""The ``circle`` console script: a click group whose subcommands are imported on first use.

``circle --help`` lists commands from the table below without importing them (nor ``core``), which
keeps it fast. Every failure a user can cause ends in one line on stderr and exit code 1 (it failed)
or 2 (usage or configuration); a traceback is shown only for a bug, and only with ``--verbose``. With
``--json`` that line is a JSON object instead, ``{"error": {"type", "message", "code"}}``, with the same
exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from circle_cli.errors import FAILURE, USAGE, CliError

# name -> (module, attribute, one-line help). The help text is here so listing needs no import.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ls": ("circle_cli.objects", "ls", "List stores, or objects under a location."),
    "cat": ("circle_cli.objects", "cat", "Write objects' bytes to stdout."),
    "cp": ("circle_cli.objects", "cp", "Copy an object (or a prefix with -r) between stores and local files."),
    "mv": ("circle_cli.objects", "mv", "Move an object: copy, verify, then delete the source."),
    "rm": ("circle_cli.objects", "rm", "Delete objects (a prefix with -r)."),
    "stat": ("circle_cli.objects", "stat", "Show one object's size, ETag, type, metadata and checksums."),
    "presign": ("circle_cli.objects", "presign", "Print a presigned GET or PUT URL."),
    "sync": ("circle_cli.sync", "sync", "Make DST hold what SRC holds (one-way; --delete, --dry-run)."),
    "check": ("circle_cli.sync", "check", "List the differences between SRC and DST."),
    "invoke": ("circle_cli.invoke", "invoke", "Run a cloud adapter's entry point locally on an event file."),
    "events": ("circle_cli.events", "events", "Show the normalised StorageEvents of an event file."),
    "emulators": ("circle_cli.emulators", "emulators", "Start moto, Azurite and fake-gcs-server locally."),
    "rotate": ("circle_cli.ops", "rotate", "Rotate a secret now (its [[rotation]] entry)."),
    "probe": ("circle_cli.ops", "probe", "Run the replication probe once."),
    "doctor": ("circle_cli.ops", "doctor", "Check configuration, credentials and each store's capabilities."),
    "serve": ("circle_cli.ops", "serve", "Serve the HTTP API locally."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        import importlib

        module = importlib.import_module(spec[0])
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, spec[2]) for name, spec in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="CIRCLE_CONFIG",
    metavar="PATH",
    help="circle.toml to read (default: $CIRCLE_CONFIG, else ./circle.toml if present).",
)
@click.option("--env", "env", envvar="CIRCLE_ENV", metavar="NAME", help="Overlay [env.NAME] (default: $CIRCLE_ENV).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no WARNING lines.")
@click.option("-v", "--verbose", is_flag=True, help="INFO log lines; tracebacks for unexpected errors.")
@click.option(
    "--engine",
    type=click.Choice(["sdk", "obstore"]),
    envvar="CIRCLE_ENGINE",
    help="Data path of s3:// and az:// stores (default: each store's `engine`, else sdk; $CIRCLE_ENGINE).",
)
@click.version_option("0.1.0", prog_name="circle")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    env: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    engine: str | None,
) -> None:
    """Circle Core's command line: one storage interface over S3, Azure Blob, GCS, files and memory.

    A LOCATION is a configured store name and key (backup:data/report.csv), a store URL
    (s3://bucket/key, az://container/key, gs://bucket/key, memory://name/key) or a local path.
    """
    from circle_cli.session import Session

    ctx.obj = Session(config_path=config_path, env=env, as_json=as_json, quiet=quiet, verbose=verbose, engine=engine)
    ctx.obj.setup_logging()
    ctx.call_on_close(ctx.obj.close)  # the stores a command opened


def exit_code(exc: BaseException) -> int | None:
    """The exit code for an error a user can cause (None: a bug, shown as such)."""
    if isinstance(exc, CliError):
        return exc.code
    from core.documents import ConfigError
    from core.errors import CircleError
    from core.storage.errors import InvalidArgument, InvalidKey

    if isinstance(exc, ConfigError | InvalidArgument | InvalidKey):
        return USAGE  # a misspelled option, a bad key, a missing extra: the user's input
    if isinstance(exc, ValueError) and type(exc).__module__.startswith("core.secrets"):
        return USAGE
    if isinstance(exc, CircleError | OSError):
        return FAILURE
    return None


def one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, CliError) else str(exc)
    text = " ".join(text.split())
    if not isinstance(exc, CliError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def wants_json(args: list[str]) -> bool:
    """Whether ``--json`` is among the global options (before the subcommand's name)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--config", "--env"):
            skip = True  # the option's value
        elif arg == "--json":
            return True
        elif arg in COMMANDS or arg == "--":
            return False
    return False


def report_error(
    message: str, code: int, kind: str, as_json: bool, *, bug: bool = False, detail: str | None = None
) -> int:
    """One line on stderr (``circle: error: ...``, or ``{"error": {...}}`` with ``--json``, where the
    message is ``detail`` when given: the text without the type, which has its own field); returns ``code``."""
    if as_json:
        error: dict[str, Any] = {"type": kind, "message": detail or message, "code": code}
        if bug:
            error["bug"] = True
        click.echo(json.dumps({"error": error}), err=True)
    elif bug:
        click.echo(f"circle: unexpected error (a bug; -v shows the traceback): {message}", err=True)
    else:
        click.echo(f"circle: {message}" if kind == "Interrupted" else f"circle: error: {message}", err=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(args)
    try:
        rv: Any = cli.main(args=args, prog_name="circle", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:  # usage errors: click's own message, exit 2
        code = USAGE if isinstance(exc, click.UsageError) else exc.exit_code
        if not as_json:
            exc.show()
            return code
        return report_error(" ".join(exc.format_message().split()), code, type(exc).__name__, as_json)
    except (click.exceptions.Abort, KeyboardInterrupt):
        return report_error("interrupted", 130, "Interrupted", as_json)
    except BrokenPipeError:  # `circle cat ... | head`
        return 0
    except Exception as exc:
        verbose = "-v" in args or "--verbose" in args
        known = exit_code(exc)
        if known is None:
            if verbose:
                raise
            return report_error(one_line(exc), FAILURE, type(exc).__name__, as_json, bug=True, detail=_text(exc))
        kind = "CliError" if isinstance(exc, CliError) else type(exc).__name__
        return report_error(one_line(exc), known, kind, as_json, detail=_text(exc))


def _text(exc: BaseException) -> str:
    return " ".join((exc.message if isinstance(exc, CliError) else str(exc)).split())


if __name__ == "__main__":
    sys.exit(main())
