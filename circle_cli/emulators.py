"""``circle emulators``: moto, Azurite and fake-gcs-server on free loopback ports, the configuration's
buckets created, ``export`` lines printed; Ctrl-C or SIGTERM stops all of them (scripts/emulators.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from circle_cli.errors import CliError
from circle_cli.session import session


@click.command()
@click.pass_context
def emulators(ctx: click.Context) -> int:
    """Start the local clouds, create the buckets of every s3://, az:// and gs:// store in the
    configuration (--config) and print the environment that points the SDKs at them; runs until
    Ctrl-C or SIGTERM, then stops every emulator and removes its temp folder.

    \b
    circle --config circle.toml emulators      # then, in another shell: eval "$(...)" the export lines
    """
    s = session(ctx)
    try:
        from scripts import emulators as stack
    except ImportError:
        raise CliError("circle emulators runs from a source checkout (scripts/emulators.py is missing)", 2) from None
    config = s.config_file()
    if config is not None:
        s.config  # noqa: B018 - a bad file is reported before anything starts

    if s.as_json:
        lines: list[str] = []

        def out(line: str) -> None:
            lines.append(line)
            if line.startswith("# emulators running"):
                click.echo(json.dumps(_as_json(lines)))

        return int(stack.serve(config, out=out))
    return int(stack.serve(config, out=lambda line: click.echo(line)))


def _as_json(lines: list[str]) -> dict[str, Any]:
    """The printed lines as one object: env, created buckets, pids, temp folder."""
    env = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = value.strip("'")
    created = [line[len("# created ") :] for line in lines if line.startswith("# created ")]
    info = next((line for line in lines if line.startswith("# pids ")), "# pids ; temp folder ")
    pids_text, _, temp = info[len("# pids ") :].partition("; temp folder ")
    return {"env": env, "created": created, "pids": [int(p) for p in pids_text.split()], "temp_dir": temp}
