"""``circle sync`` against ``rclone sync``: N small objects between two buckets of the same moto server,
both tools launched as fresh processes in the same run, in alternation (so machine load hits both).

    python -m bench.bench_sync            # N=1000 ROUNDS=3 by default (environment variables)

rclone copies S3 to S3 on one endpoint server-side by default; ``--disable copy`` makes it stream the
bytes through itself as ``circle sync`` does (copy_object streams and verifies every object). The
"nothing to do" rows rerun a finished sync: rclone compares size and modification time by default,
which costs a HEAD per object on S3; ``--checksum`` compares the listing's MD5 instead.
rclone is not installed by this script: without it only the circle rows are measured.
"""

from __future__ import annotations

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
        results: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def timed(name: str, cmd: list[str], run_env: dict[str, str], bucket: str | None = None) -> None:
            if bucket:
                s3.create_bucket(Bucket=bucket)
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
            return [str(launcher), "-q", "sync", "s3://bench-src/", f"s3://{dst}/", "--parallel", str(parallel)]

        def rclone_sync(dst: str, *extra: str) -> list[str]:
            return [str(rclone), "sync", "moto:bench-src", f"moto:{dst}", "--transfers", "8", "--checkers", "8", *extra]

        for r in range(ROUNDS):
            timed("circle sync --parallel 8", circle(f"circle8-{r}", 8), env, f"circle8-{r}")
            timed("circle sync --parallel 32", circle(f"circle32-{r}", 32), env, f"circle32-{r}")
            if rclone:
                timed("rclone sync (server-side copy)", rclone_sync(f"rclone-{r}"), rc_env, f"rclone-{r}")
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
            copied = s3.list_objects_v2(Bucket=f"circle8-{r}", MaxKeys=1000)["KeyCount"]
            assert copied == min(N, 1000), copied
        print(f"{N} objects of about 100 bytes, moto {emu.s3_endpoint}, {ROUNDS} rounds; load {os.getloadavg()[0]:.1f}")
        print(f"{'':42} {'wall (median)':>14} {'CPU of the tool':>16}   wall runs")
        for name, xs in results.items():
            runs = " ".join(f"{x:.2f}" for x in xs)
            used = statistics.median(cpu[name])
            print(f"{name:42} {statistics.median(xs):12.2f} s {used:14.2f} s   {runs}")


if __name__ == "__main__":
    main()
