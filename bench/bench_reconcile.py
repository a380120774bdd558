"""Reconciliation (Circle Core) against ``rclone sync`` on the same emulators in the same run.

For each direction among S3 (moto), Azure (Azurite) and GCS (fake-gcs-server) the same source objects are
synced by both tools into fresh prefixes of the destination: Circle's ``reconcile`` (per-key convergence,
8 parallel) in a fresh process, rclone with ``--transfers 8 --checkers 8 --s3-no-head`` launched under
``/usr/bin/time -v``. Prints seconds, throughput ratio (Circle / rclone) and peak RSS (Circle: growth
during the run; rclone: its whole-process maximum resident set), plus Circle's list requests.
With ``--rounds N`` each direction runs N times, odd rounds Circle first, and each round's copies are
deleted before the next (the emulators slow down as objects pile up, which favours whoever runs
first); the medians are printed.

    .venv/bin/python -m bench.bench_reconcile                       # 1,000 x 4 KiB and 10 x 100 MiB, all 6 directions
    .venv/bin/python -m bench.bench_reconcile --small 200 --large 0 --directions s3:az,gs:s3
    .venv/bin/python -m bench.bench_reconcile --engine obstore     # s3 and az stores on the obstore engine
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.bench_copy import _rclone_env
from scripts import emulators

MiB = 1024 * 1024
DIRECTIONS = ("s3:az", "s3:gs", "az:s3", "az:gs", "gs:s3", "gs:az")
ENGINE_SCHEMES = ("s3", "az")  # the stores ``engine`` applies to (core.storage.options)


@dataclass
class Run:
    tool: str
    direction: str
    dataset: str
    seconds: float
    rss_mib: float
    list_requests: int | None = None


def _seed(emu: emulators.Emulators, bucket: str, scheme: str, prefix: str, count: int, size: int) -> None:
    from core.storage import open_store

    store = open_store(f"{scheme}://{bucket}", **emu.store_options()[scheme])

    def body() -> Iterator[bytes]:
        for offset in range(0, size, 8 * MiB):
            yield os.urandom(min(8 * MiB, size - offset))

    with ThreadPoolExecutor(8 if size < MiB else 2) as pool:
        list(pool.map(lambda i: store.put(f"{prefix}{i:05d}", body()), range(count)))


def _circle(
    emu: emulators.Emulators, bucket: str, src: str, dst: str, prefix: str, dataset: str, engine: str, into: str
) -> Run:
    job = {"emu": emu.store_options(), "bucket": bucket, "src": src, "dst": dst, "prefix": prefix, "engine": engine,
           "into": into}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_reconcile", "--worker", json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    res = json.loads(out.strip().splitlines()[-1])
    if res["failed"] or not res["complete"]:  # reported, not hidden: the next pass would retry these keys
        print(f"circle {src}->{dst}: {res['failed']} failed, complete={res['complete']}: {res['failures']}", flush=True)
    return Run("circle", f"{src}->{dst}", dataset, res["seconds"], res["rss_growth_mib"], res["list_requests"])


def _rclone(emu: emulators.Emulators, bucket: str, src: str, dst: str, prefix: str, dataset: str, into: str) -> Run:
    cmd = [
        "/usr/bin/time", "-v", "rclone", "sync", f"{src}:{bucket}/{prefix}", f"{dst}:{bucket}/{into}{prefix}",
        "--s3-no-head", "--transfers", "8", "--checkers", "8", "--retries", "1", "-q",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=_rclone_env(emu), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"rclone failed: {proc.stderr[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return Run("rclone", f"{src}->{dst}", dataset, seconds, int(peak.group(1)) / 1024 if peak else float("nan"))


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """One reconciliation in this fresh process: time, RSS growth (VmHWM - VmRSS before), counts."""
    from core.config import parse_config
    from core.handlers.reconcile import reconcile
    from core.runtime import Circle

    stores = {s: {"url": f"{s}://{job['bucket']}", **job["emu"][s]} for s in (job["src"], job["dst"])}
    for scheme, options in stores.items():
        if scheme in ENGINE_SCHEMES:
            options["engine"] = job["engine"]
    rule = {"name": "bench", "source": job["src"], "targets": [job["dst"]], "prefix": job["prefix"],
            "target_prefix": job["into"]}  # fmt: skip
    circle = Circle.from_config(parse_config({"stores": stores, "replication": [rule]}))
    for name in stores:  # warm SDK imports and connection pools before measuring
        circle.store(name).list_page(page_size=1)
    before = _status_kib("VmRSS")
    report = reconcile(circle, parallel=8, checkpoint_store=job["dst"])
    return {
        "seconds": report.seconds,
        "rss_growth_mib": (_status_kib("VmHWM") - before) / 1024,
        "list_requests": report.list_requests,
        "copied": report.copied,
        "failed": report.failed,
        "complete": report.complete,
        "failures": [f for r in report.rules for f in r.failures][:3],
    }


def _median(runs: list[Run]) -> Run:
    """The run of median time (its RSS and list requests come with it)."""
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def _clear(emu: emulators.Emulators, bucket: str, scheme: str, prefixes: list[str], count: int) -> None:
    """Check each tool copied every object, then delete the copies (and Circle's checkpoints)."""
    from core.storage import ObjectInfo, open_store

    store = open_store(f"{scheme}://{bucket}", **emu.store_options()[scheme])
    for prefix in prefixes:
        keys = [o.key for o in store.list(prefix) if isinstance(o, ObjectInfo)]
        assert len(keys) == count, (prefix, len(keys))
        assert not store.delete_many(keys)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="small objects (0: skip)")
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--large", type=int, default=10, help="large objects (0: skip)")
    parser.add_argument("--large-mib", type=int, default=100)
    parser.add_argument("--directions", default=",".join(DIRECTIONS))
    parser.add_argument("--engine", choices=("sdk", "obstore"), default="sdk", help="for s3 and az stores")
    parser.add_argument("--rounds", type=int, default=1, help="runs per direction (odd ones Circle first)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    directions = [tuple(d.split(":")) for d in args.directions.split(",")]
    datasets = []
    if args.small:
        datasets.append((f"{args.small} x {args.small_kib} KiB", "small/", args.small, args.small_kib * 1024))
    if args.large:
        datasets.append((f"{args.large} x {args.large_mib} MiB", "large/", args.large, args.large_mib * MiB))
    runs: list[Run] = []
    engine = args.engine
    with emulators.running() as emu:
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        emu.create_buckets(bucket)
        for label, prefix, count, size in datasets:
            for scheme in sorted({d[0] for d in directions}):
                _seed(emu, bucket, scheme, prefix, count, size)
            for src, dst in directions:
                mine: list[Run] = []
                theirs: list[Run] = []
                for r in range(args.rounds):
                    rclone_into, circle_into = f"rclone-{src}-{r}/", f"circle-{src}-{r}/"
                    tools = [
                        (theirs, functools.partial(_rclone, emu, bucket, src, dst, prefix, label, rclone_into)),
                        (mine, functools.partial(_circle, emu, bucket, src, dst, prefix, label, engine, circle_into)),
                    ]
                    for into, run in tools[:: -1 if r % 2 else 1]:  # odd rounds: Circle first
                        into.append(run())
                    _clear(emu, bucket, dst, [rclone_into, circle_into], count)
                runs += theirs + mine
                c, t = _median(mine), _median(theirs)
                mib = count * size / MiB
                ratios = " ".join(f"{a.seconds / b.seconds:.2f}" for a, b in zip(theirs, mine, strict=True))
                print(
                    f"{label:>16} {src}->{dst}: circle {c.seconds:7.2f}s ({mib / c.seconds:7.1f} MiB/s, "
                    f"+{c.rss_mib:5.1f} MiB RSS, {c.list_requests} lists) | rclone {t.seconds:7.2f}s "
                    f"({mib / t.seconds:7.1f} MiB/s, {t.rss_mib:5.1f} MiB max RSS) "
                    f"| ratio {t.seconds / c.seconds:4.2f}" + (f" (rounds: {ratios})" if args.rounds > 1 else ""),
                    flush=True,
                )
    print(json.dumps([r.__dict__ for r in runs]))


if __name__ == "__main__":
    main()
