"""``circle sync`` against ``rclone sync``: N small objects from one emulated cloud into a fresh
destination, both tools launched as fresh processes in the same run, in alternation (so machine load
hits both). Odd rounds run rclone first, and every round's copies are checked and deleted before the
next: Azurite and moto slow down as objects pile up, which favoured whichever tool ran first.

    python -m bench.bench_sync                     # N=1000 ROUNDS=3 DIRECTION=s3-s3 (environment variables)
    python -m bench.bench_sync --direction gs-s3   # SRC-DST among s3 (moto), az (Azurite), gs (fake-gcs-server)
    python -m bench.bench_sync --engines obstore   # circle rows with --engine obstore only (default: sdk,obstore)

``s3-s3``: into another bucket of the same moto server. Both tools then copy server-side: rclone a
CopyObject (and with its default ``--s3-no-head`` off, a HEAD), circle one CopyObject pinned to the
listed ETag. ``--disable copy`` makes rclone stream the bytes through itself instead. Every other
direction streams with both tools (GET, PUT per object). rclone runs with ``--transfers 8 --checkers 8``
and ``--s3-no-head`` wherever S3 is the destination except s3-s3 (there it would skip its check of the
copy; the table says which). The "nothing to do" rows rerun a finished sync: rclone compares size and
modification time by default (on S3 a HEAD per object); ``--checksum`` compares the listing's MD5
instead. The ratio lines divide rclone's median wall time by circle's (above 1.0: circle is faster).
rclone is not installed by this script: without it only the circle rows are measured.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.bench_copy import _rclone_env
from scripts import emulators

N = int(os.environ.get("N", "1000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SCHEMES = ("s3", "az", "gs")
DIRECTIONS = ["s3-s3"] + [f"{a}-{b}" for a in SCHEMES for b in SCHEMES if a != b]


def main() -> None:
    from core.storage import ObjectInfo, open_store

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--direction", choices=DIRECTIONS, default=os.environ.get("DIRECTION", "s3-s3"))
    parser.add_argument("--engines", default="sdk,obstore", help="circle's engines to measure, comma-separated")
    args = parser.parse_args()
    direction, engines = args.direction, args.engines.split(",")
    src_scheme, dst_scheme = direction.split("-")
    same_endpoint = src_scheme == dst_scheme
    rclone = shutil.which("rclone")
    with emulators.running() as emu, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **emu.env(), "PYTHONPATH": str(emulators.ROOT)}
        # circle runs from bytecode compiled once, as an installed package does (pip compiles at install):
        # in a private cache, so the checkout is not written to
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        subprocess.run([sys.executable, "-m", "compileall", "-q", "core", "circle_cli"], env=env, cwd=emulators.ROOT)
        env.pop("AWS_CA_BUNDLE", None)
        emu.create_bucket(src_scheme, "bench-src")
        source = open_store(f"{src_scheme}://bench-src", **emu.store_options()[src_scheme])
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: source.put(f"small/{i:05}.txt", b"object %d " % i * 10), range(N)))
        launcher = Path(tmp) / "circle"
        launcher.write_text(f"#!{sys.executable}\nimport sys\nfrom circle_cli.main import main\nsys.exit(main())\n")
        launcher.chmod(0o755)
        rc_env = _rclone_env(emu)
        results: dict[str, list[float]] = {}
        created: list[str] = []  # this round's destination buckets
        cpu: dict[str, list[float]] = {}

        def timed(name: str, cmd: list[str], run_env: dict[str, str], bucket: str | None = None) -> None:
            if bucket:
                emu.create_bucket(dst_scheme, bucket)
                created.append(bucket)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
            results.setdefault(name, []).append(elapsed)

        def circle(dst: str, parallel: int, engine: str) -> list[str]:
            src_url, dst_url = f"{src_scheme}://bench-src/", f"{dst_scheme}://{dst}/"
            return [str(launcher), "-q", "--engine", engine, "sync", src_url, dst_url, "--parallel", str(parallel)]

        def ours(engine: str, parallel: int | None = None) -> str:
            named = "" if engine == "sdk" else f" --engine {engine}"
            return f"circle{named} sync" + (f" --parallel {parallel}" if parallel else ", nothing to do")

        def rclone_sync(dst: str, *extra: str) -> list[str]:
            flags = ["--transfers", "8", "--checkers", "8"]
            if dst_scheme == "s3" and not same_endpoint:
                flags.append("--s3-no-head")
            return [str(rclone), "sync", f"{src_scheme}:bench-src", f"{dst_scheme}:{dst}", *flags, *extra]

        theirs = "rclone sync (server-side copy)" if same_endpoint else "rclone sync (streamed)"

        def copies(r: int) -> list[Callable[[], None]]:
            runs: list[Callable[[], None]] = []
            for engine in engines:
                for parallel in (8, 32):
                    bucket = f"circle{parallel}-{engine}-{r}"
                    runs.append(
                        functools.partial(timed, ours(engine, parallel), circle(bucket, parallel, engine), env, bucket)
                    )
            if rclone:
                runs.append(functools.partial(timed, theirs, rclone_sync(f"rclone-{r}"), rc_env, f"rclone-{r}"))
                if same_endpoint:
                    streamed = rclone_sync(f"rclone-streamed-{r}", "--disable", "copy")
                    label = "rclone sync --disable copy (streamed)"
                    runs.append(functools.partial(timed, label, streamed, rc_env, f"rclone-streamed-{r}"))
            return runs

        for r in range(ROUNDS):
            # odd rounds run rclone first: the emulators slow down as objects pile up within a round
            for run in copies(r)[:: -1 if r % 2 else 1]:
                run()
            for engine in engines:
                timed(ours(engine), circle(f"circle8-{engine}-{r}", 8, engine), env)
            if rclone:
                timed("rclone sync, nothing to do", rclone_sync(f"rclone-{r}"), rc_env)
                timed("rclone sync --checksum, nothing to do", rclone_sync(f"rclone-{r}", "--checksum"), rc_env)
            for bucket in created:
                copied = open_store(f"{dst_scheme}://{bucket}", **emu.store_options()[dst_scheme])
                keys = [o.key for o in copied.list() if isinstance(o, ObjectInfo)]
                assert len(keys) == N, (bucket, len(keys))
                assert not copied.delete_many(keys)  # the next round starts from emulators as empty as this one
            created.clear()
        print(f"{N} objects of about 100 bytes, {direction} on the emulators, {ROUNDS} rounds; "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"{'':48} {'wall (median)':>14} {'CPU of the tool':>16}   wall runs")
        for name, xs in results.items():
            runs = " ".join(f"{x:.2f}" for x in xs)
            used = statistics.median(cpu[name])
            print(f"{name:48} {statistics.median(xs):12.2f} s {used:14.2f} s   {runs}")
        medians = {name: statistics.median(xs) for name, xs in results.items()}
        for mine in (ours(engine, parallel) for engine in engines for parallel in (8, 32)):
            for other in (theirs, "rclone sync --disable copy (streamed)"):
                if other in medians:
                    print(f"{mine} vs {other}: {medians[other] / medians[mine]:.2f}x")


if __name__ == "__main__":
    main()
