"""``circle sync`` against ``rclone sync``: N small objects from one moto bucket into a fresh destination,
both tools launched as fresh processes in the same run, in alternation (so machine load hits both).

    python -m bench.bench_sync                   # N=1000 ROUNDS=3 DIRECTION=s3-s3 (environment variables)
    python -m bench.bench_sync --direction s3-az # into an Azurite container (N, ROUNDS as above)

``s3-s3``: into another bucket of the same moto server. Both tools then copy server-side: a HEAD and a
CopyObject per object (rclone: CopyObject then HEAD; circle: HEAD for the source's metadata, then a
CopyObject carrying it and the ``circle_source_etag`` stamp). ``--disable copy`` makes rclone stream the
bytes through itself instead. ``s3-az``: into Azurite, streamed by both tools (GET, PUT per object).
The "nothing to do" rows rerun a finished sync: rclone compares size and modification time by default,
which costs a HEAD per object on S3; ``--checksum`` compares the listing's MD5 instead. The ratio lines
divide rclone's median wall time by circle's (above 1.0: circle is faster).
rclone is not installed by this script: without it only the circle rows are measured.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scripts import emulators

N = int(os.environ.get("N", "1000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def main() -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--direction", choices=["s3-s3", "s3-az"], default=os.environ.get("DIRECTION", "s3-s3"))
    direction = parser.parse_args().direction
    rclone = shutil.which("rclone")
    with emulators.running() as emu, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **emu.env(), "PYTHONPATH": str(emulators.ROOT)}
        env.pop("AWS_CA_BUNDLE", None)
        s3 = boto3.client("s3", endpoint_url=emu.s3_endpoint, **CREDS)  # type: ignore[call-overload]
        s3.create_bucket(Bucket="bench-src")
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: s3.put_object(Bucket="bench-src", Key=f"small/{i:05}.txt", Body=b"object %d " % i * 10),
                    range(N),
                )
            )
        launcher = Path(tmp) / "circle"
        launcher.write_text(f"#!{sys.executable}\nimport sys\nfrom circle_cli.main import main\nsys.exit(main())\n")
        launcher.chmod(0o755)
        rc_env = {
            **env,
            "RCLONE_CONFIG": str(Path(tmp) / "rclone.conf"),
            "RCLONE_CONFIG_MOTO_TYPE": "s3",
            "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
            "RCLONE_CONFIG_MOTO_ENDPOINT": emu.s3_endpoint,
            "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_MOTO_REGION": "us-east-1",
        }
        if direction == "s3-az":
            rc_env |= {"RCLONE_CONFIG_AZ_TYPE": "azureblob", "RCLONE_CONFIG_AZ_SAS_URL": azurite_sas_url(emu)}
        scheme, remote = ("s3", "moto") if direction == "s3-s3" else ("az", "az")
        results: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def timed(name: str, cmd: list[str], run_env: dict[str, str], bucket: str | None = None) -> None:
            if bucket:
                emu.create_bucket(scheme, bucket)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
            results.setdefault(name, []).append(elapsed)

        def circle(dst: str, parallel: int) -> list[str]:
            return [str(launcher), "-q", "sync", "s3://bench-src/", f"{scheme}://{dst}/", "--parallel", str(parallel)]

        def rclone_sync(dst: str, *extra: str) -> list[str]:
            flags = ["--transfers", "8", "--checkers", "8"]
            return [str(rclone), "sync", "moto:bench-src", f"{remote}:{dst}", *flags, *extra]

        server_side = "rclone sync (server-side copy)" if direction == "s3-s3" else "rclone sync (streamed)"

        for r in range(ROUNDS):
            timed("circle sync --parallel 8", circle(f"circle8-{r}", 8), env, f"circle8-{r}")
            timed("circle sync --parallel 32", circle(f"circle32-{r}", 32), env, f"circle32-{r}")
            if rclone:
                timed(server_side, rclone_sync(f"rclone-{r}"), rc_env, f"rclone-{r}")
                if direction == "s3-s3":
                    timed(
                        "rclone sync --disable copy (streamed)",
                        rclone_sync(f"rclone-streamed-{r}", "--disable", "copy"),
                        rc_env,
                        f"rclone-streamed-{r}",
                    )
            timed("circle sync, nothing to do", circle(f"circle8-{r}", 8), env)
            if rclone:
                timed("rclone sync, nothing to do", rclone_sync(f"rclone-{r}"), rc_env)
                timed("rclone sync --checksum, nothing to do", rclone_sync(f"rclone-{r}", "--checksum"), rc_env)
            if direction == "s3-s3":
                copied = s3.list_objects_v2(Bucket=f"circle8-{r}", MaxKeys=1000)["KeyCount"]
                assert copied == min(N, 1000), copied
        target = "the same moto server" if direction == "s3-s3" else f"Azurite {emu.azure_endpoint}"
        print(
            f"{N} objects of about 100 bytes, moto {emu.s3_endpoint} -> {target}, {ROUNDS} rounds; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        print(f"{'':42} {'wall (median)':>14} {'CPU of the tool':>16}   wall runs")
        for name, xs in results.items():
            runs = " ".join(f"{x:.2f}" for x in xs)
            used = statistics.median(cpu[name])
            print(f"{name:42} {statistics.median(xs):12.2f} s {used:14.2f} s   {runs}")
        medians = {name: statistics.median(xs) for name, xs in results.items()}
        for ours in ("circle sync --parallel 8", "circle sync --parallel 32"):
            for theirs in (server_side, "rclone sync --disable copy (streamed)"):
                if theirs in medians:
                    print(f"{ours} vs {theirs}: {medians[theirs] / medians[ours]:.2f}x")


def azurite_sas_url(emu: emulators.Emulators) -> str:
    """An account SAS URL for Azurite (rclone 1.60 takes a custom account endpoint only this way: its
    ``endpoint`` is a domain suffix, ``use_emulator`` a fixed port)."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    sas = generate_account_sas(
        emulators.AZURITE_ACCOUNT,
        emulators.AZURITE_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=6),
    )
    return f"{emu.azure_endpoint}/{emulators.AZURITE_ACCOUNT}?{sas}"


if __name__ == "__main__":
    main()
