"""Operations commands: rotate, probe, doctor, serve."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from circle_cli.errors import FAILURE, USAGE, CliError, usage
from circle_cli.session import Session, session


def _circle(s: Session) -> Any:
    from core.runtime import Circle

    return Circle.from_config(s.config)


# -- rotate ---------------------------------------------------------------------------------------------------
@click.command()
@click.argument("secret")
@click.option("--secrets", "secrets_url", metavar="URL", help="The secrets store (default: the [[rotation]] entry's).")
@click.pass_context
def rotate(ctx: click.Context, secret: str, secrets_url: str | None) -> None:
    """Rotate SECRET now, with the rotator and strategy of its [[rotation]] entry in circle.toml
    (create -> set -> test -> finish; idempotent, so a rerun after a failure resumes).

    \b
    circle rotate circle/replication
    """
    s = session(ctx)
    from core.documents import read_document
    from core.handlers.rotation import force_rotation
    from core.secrets import open_secrets
    from core.secrets.rotation.config import find_spec, parse_rotations

    path = s.config_file()
    if path is None:
        raise usage("rotate needs a configuration with a [[rotation]] entry: pass --config circle.toml")
    s.config  # noqa: B018 - the whole file is checked first
    specs = parse_rotations(read_document(path))
    spec = find_spec(specs, secret)
    if spec is None:
        declared = ", ".join(sp.secret for sp in specs) or "none"
        raise usage(f"no [[rotation]] entry names {secret!r} (declared: {declared})")
    store = open_secrets(secrets_url or spec.secrets)
    result = force_rotation(store, secret, specs=[spec])
    data = {"secret": result.name, "version": result.version, "outcome": result.outcome, "token": result.token}
    s.emit(data, lambda: click.echo(f"rotated {result.name}: {result.outcome} (version {result.version})"))


# -- probe ----------------------------------------------------------------------------------------------------
@click.command()
@click.argument("stores", nargs=-1)
@click.pass_context
def probe(ctx: click.Context, stores: tuple[str, ...]) -> int:
    """Write, read, list and delete a canary object in each store (or STORES) and read each secret
    reference once; exit 1 when anything is down."""
    s = session(ctx)
    try:
        from core.handlers.probe import probe as run_probe
    except ImportError:
        raise CliError("this build has no probe (core.handlers.probe is missing)", USAGE) from None
    unknown = [n for n in stores if n not in s.config.stores]
    if unknown:
        raise usage(f"no store named {', '.join(unknown)} in the configuration")
    report = run_probe(_circle(s), stores=list(stores) or None)
    data = report.as_dict()

    def human() -> None:
        s.table(
            ["store", "status", "write ms", "read ms", "list ms", "delete ms", "error"],
            [
                (
                    p["store"],
                    p["status"],
                    *tuple(p["latency_ms"].get(op, "") for op in ("write", "read", "list", "delete")),
                    p["error"] or "",
                )
                for p in data["stores"]
            ],
        )
        for sec in data["secrets"]:
            state = "readable" if sec["readable"] else f"NOT readable: {sec['error']}"
            click.echo(f"secret {sec['reference']}: {state}, expiry {sec['expires'] or sec['expiry']}")

    s.emit(data, human)
    return 0 if report.ok else FAILURE


# -- doctor ---------------------------------------------------------------------------------------------------
CREDENTIAL_SOURCES = {
    "aws": ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"),
    "gcp": ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"),
}
FLAGS = {
    "create-only": "write_with_if_none_match",
    "CAS": "write_with_if_match",
    "cond. delete": "delete_with_if_match",
    "presign": "presign_read",
}


@click.command()
@click.option("--offline", is_flag=True, help="Do not contact the stores (configuration and capabilities only).")
@click.option("--timeout", type=click.FloatRange(0.5), default=10.0, show_default=True, help="Seconds per store.")
@click.pass_context
def doctor(ctx: click.Context, offline: bool, timeout: float) -> int:
    """Check the configuration, the credentials each cloud will use and every store: capabilities,
    best-effort (degraded) replication targets and, unless --offline, whether it answers a listing."""
    s = session(ctx)
    config = s.config
    clouds = sorted({cloud for sc in config.stores.values() if (cloud := _cloud(sc)) is not None})
    credentials = {cloud: _credential_source(cloud) for cloud in clouds}
    rows: list[dict[str, Any]] = []
    for name, sc in sorted(config.stores.items()):
        caps = sc.spec.capabilities(sc.options)
        row: dict[str, Any] = {
            "store": name,
            "url": sc.url,
            "provider": sc.provider,
            "capabilities": {label: bool(getattr(caps, flag)) for label, flag in FLAGS.items()},
            "degraded": list(config.degraded_targets.get(name, ())),
            "reachable": None,
            "latency_ms": None,
            "error": None,
        }
        if not offline:
            row.update(_reach(sc, timeout))
        rows.append(row)
    data = {
        "config": str(Path(s.config_file() or "").resolve()),
        "env": config.env,
        "rules": len(config.replication),
        "secrets_url": config.secrets_url,
        "dead_letter": list(config.dead_letter) if config.dead_letter else None,
        "credentials": credentials,
        "stores": rows,
    }

    def human() -> None:
        click.echo(f"config:      {data['config']} (overlay: {config.env or 'none'}), {data['rules']} rule(s)")
        click.echo(f"secrets:     {config.secrets_url or 'not configured'}")
        click.echo(f"dead letter: {':'.join(config.dead_letter) if config.dead_letter else 'not configured'}")
        for cloud, source in credentials.items():
            click.echo(f"credentials: {cloud}: {source}")
        s.table(
            ["store", "provider", *FLAGS, "replication", "reachable", "error"],
            [
                (
                    r["store"],
                    r["provider"],
                    *tuple("yes" if r["capabilities"][f] else "no" for f in FLAGS),
                    "BEST-EFFORT (lacks " + ", ".join(r["degraded"]) + ")" if r["degraded"] else "ok",
                    _reach_text(r),
                    r["error"] or "",
                )
                for r in rows
            ],
        )

    s.emit(data, human)
    return FAILURE if any(r["reachable"] is False for r in rows) else 0


def _cloud(store: Any) -> str | None:
    """The cloud whose SDK credential chain a store uses: its provider spec's ``cloud`` (the default
    profile's: an S3-compatible profile still signs with boto3's chain), when it has one to report."""
    cloud: str = store.spec.cloud
    return cloud if cloud in CREDENTIAL_SOURCES else None


def _credential_source(cloud: str) -> str:
    """Where the SDK will find credentials (the variable's name, never its value)."""
    found = [name for name in CREDENTIAL_SOURCES[cloud] if os.environ.get(name)]
    if cloud == "aws" and not found and Path("~/.aws/credentials").expanduser().is_file():
        found.append("~/.aws/credentials")
    if cloud == "gcp" and not found:
        adc = Path("~/.config/gcloud/application_default_credentials.json").expanduser()
        if adc.is_file():
            found.append(str(adc))
    return ", ".join(found) if found else "none in the environment (store options, or the SDK's default chain)"


def _reach(sc: Any, timeout: float) -> dict[str, Any]:
    """List one key with a short retry budget: reachable, the latency, or the one-line error."""
    from core.storage import open_store

    options = {**sc.options, "retry": {"max_attempts": 2, "total_timeout": timeout}}
    if sc.scheme in ("s3", "az", "gs"):
        options.setdefault("connect_timeout", timeout)
    started = time.perf_counter()
    try:
        with open_store(sc.url, **options) as store:
            store.list_page(page_size=1)
    except Exception as exc:
        return {"reachable": False, "error": " ".join(f"{type(exc).__name__}: {exc}".split())}
    return {"reachable": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _reach_text(row: dict[str, Any]) -> str:
    if row["reachable"] is None:
        return "not checked"
    return f"yes ({row['latency_ms']} ms)" if row["reachable"] else "NO"


# -- serve ----------------------------------------------------------------------------------------------------
@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API (core.http_api) for the configured stores on HOST:PORT until Ctrl-C."""
    s = session(ctx)
    try:
        from core.http_api import wsgi_app
    except ImportError:
        raise CliError("this build has no HTTP API (core.http_api is missing)", USAGE) from None
    app = wsgi_app(_circle(s))
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            if s.verbose:
                super().log_message(format, *args)

    import signal
    import threading

    with make_server(host, port, app, handler_class=Quiet) as server:

        def stop(signum: int, frame: object) -> None:
            # Not an exception: wsgiref swallows anything raised while a request is being handled, and
            # shutdown() must run outside the serving thread or it waits for itself.
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        bound = server.server_address[1]
        url = f"http://{host}:{bound}/"
        if s.as_json:  # the banner is the command's output: one JSON object on stdout, flushed at once
            click.echo(json.dumps({"serving": url, "host": host, "port": bound, "pid": os.getpid()}))
            sys.stdout.flush()
        else:
            click.echo(f"serving the HTTP API on {url} (Ctrl-C to stop)", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
