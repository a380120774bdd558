"""Cross-cloud streaming copy of one large object, moto -> Azurite -> fake-gcs-server, by Circle Core
and by rclone on the same emulators in the same run. Prints throughput, peak RSS growth and ratios.

    make bench    # or: .venv/bin/python -m bench.bench_copy --size-mib 16 64 256 --rounds 3 --json out.json

Three hops (s3 -> az, az -> gs, gs -> s3) at each size. Needs ``rclone`` and GNU ``time`` (the
Debian packages of those names); ``make bench`` says how to install rclone when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scripts import emulators

MiB = 1024 * 1024
TIME = "/usr/bin/time"  # GNU time (Debian package ``time``): reports a child's own peak RSS


@dataclass
class Run:
    tool: str
    hop: str
    size: int
    seconds: float
    peak_rss_mib: float  # the whole copying process's peak resident set
    rss_growth_mib: float | None  # Circle Core only: growth during the copy (imports and pools excluded)

    def throughput(self) -> float:
        return self.size / MiB / self.seconds


def _stores(emu: emulators.Emulators, name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {scheme: (f"{scheme}://{name}", options) for scheme, options in emu.store_options().items()}


def _seed(emu: emulators.Emulators, name: str, key: str, size: int) -> None:
    """Upload ``size`` random bytes to S3 and copy them to Azure and GCS (setup, not measured), so every
    hop reads the same object."""
    from core.storage import copy_object, open_store

    def random_parts() -> Iterator[bytes]:
        for offset in range(0, size, 8 * MiB):
            yield os.urandom(min(8 * MiB, size - offset))

    stores = {scheme: open_store(f"{scheme}://{name}", **opts) for scheme, opts in emu.store_options().items()}
    stores["s3"].put(key, random_parts())
    copy_object(stores["s3"], key, stores["az"], key)
    copy_object(stores["az"], key, stores["gs"], key)


def _circle(
    stores: dict[str, tuple[str, dict[str, Any]]], src: str, dst: str, key: str, dst_key: str, size: int
) -> Run:
    job = {
        "src_url": stores[src][0],
        "src_options": stores[src][1],
        "dst_url": stores[dst][0],
        "dst_options": stores[dst][1],
        "key": key,
        "dst_key": dst_key,
    }
    proc = subprocess.run([sys.executable, "-m", "bench.copy_worker", json.dumps(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"copy_worker {src}->{dst} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout)
    growth = (res["rss_peak_kib"] - res["rss_before_kib"]) / 1024
    return Run("circle", f"{src}->{dst}", size, res["seconds"], res["rss_peak_kib"] / 1024, growth)


def _rclone_env(emu: emulators.Emulators) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(
        {
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": emu.s3_endpoint,
            "RCLONE_CONFIG_S3_REGION": "us-east-1",
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_AZ_TYPE": "azureblob",
            "RCLONE_CONFIG_AZ_USE_EMULATOR": "true",
            "RCLONE_CONFIG_AZ_ENDPOINT": f"{emu.azure_endpoint}/{emulators.AZURITE_ACCOUNT}",
            "RCLONE_CONFIG_GS_TYPE": "google cloud storage",
            "RCLONE_CONFIG_GS_ANONYMOUS": "true",
            "RCLONE_CONFIG_GS_ENDPOINT": f"{emu.gcs_endpoint}/storage/v1/",
            "RCLONE_CONFIG": "/dev/null",
        }
    )
    return env


def _rclone(emu: emulators.Emulators, name: str, src: str, dst: str, key: str, dst_key: str, size: int) -> Run:
    """rclone ``copyto`` under ``/usr/bin/time -v``: a small launcher, so the peak RSS it reports is
    rclone's own. (``os.wait4`` in this process would not do: on Linux a child's ``ru_maxrss`` keeps
    the pages of the parent it was forked from, and this parent holds the emulator clients.)"""
    cmd = ["rclone", "copyto", f"{src}:{name}/{key}", f"{dst}:{name}/{dst_key}", "--s3-no-head", "--retries", "1", "-q"]
    started = time.perf_counter()
    proc = subprocess.run([TIME, "-v", *cmd], env=_rclone_env(emu), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"rclone failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return Run("rclone", f"{src}->{dst}", size, seconds, max_rss_kib(proc.stderr) / 1024, None)


def max_rss_kib(time_v_output: str) -> int:
    """The "Maximum resident set size (kbytes)" line of GNU time's ``-v`` report."""
    for line in time_v_output.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"no maximum resident set size in: {time_v_output[-500:]!r}")


HOPS = (("s3", "az"), ("az", "gs"), ("gs", "s3"))


def measure(sizes_mib: list[int], rounds: int) -> list[Run]:
    """Every hop at every size, Circle Core then rclone, ``rounds`` times; all runs, in order."""
    runs: list[Run] = []
    with emulators.running() as emu:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        emu.create_buckets(name)
        stores = _stores(emu, name)
        for size_mib in sizes_mib:
            size, key = size_mib * MiB, f"big-{size_mib}.bin"
            _seed(emu, name, key, size)
            for n in range(rounds):  # a fresh destination key every time: rclone skips up-to-date copies
                for src, dst in HOPS:
                    runs.append(_circle(stores, src, dst, key, f"{key}-circle-{n}", size))
                    runs.append(_rclone(emu, name, src, dst, key, f"{key}-rclone-{n}", size))
    return runs


def best_of(runs: list[Run]) -> dict[tuple[int, str, str], Run]:
    """The fastest run per (size, hop, tool)."""
    best: dict[tuple[int, str, str], Run] = {}
    for run in runs:
        k = (run.size, run.hop, run.tool)
        if k not in best or run.seconds < best[k].seconds:
            best[k] = run
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, nargs="+", default=[256], help="one or more object sizes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every run here (bench/plots.py reads it)")
    args = parser.parse_args()
    for tool in ("rclone", TIME):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: it is needed to measure the rclone baseline (docs/benchmarks.md)")
    runs = measure(args.size_mib, args.rounds)
    best = best_of(runs)
    print(f"cross-cloud copy, best of {args.rounds} rounds")
    print(f"{'MiB':>5} {'hop':<7} {'tool':<7} {'seconds':>8} {'MiB/s':>7} {'peak RSS MiB':>13} {'growth MiB':>11}")
    for (size, hop, tool), run in sorted(best.items(), key=lambda kv: (kv[0][0], HOPS_ORDER[kv[0][1]], kv[0][2])):
        growth = f"{run.rss_growth_mib:.1f}" if run.rss_growth_mib is not None else "-"
        print(
            f"{size // MiB:>5} {hop:<7} {tool:<7} {run.seconds:>8.2f} {run.throughput():>7.1f} "
            f"{run.peak_rss_mib:>13.1f} {growth:>11}"
        )
    for size in sorted({s for s, _, _ in best}):
        ratios = ", ".join(f"{hop} {ratio(best, size, hop):.2f}" for hop in HOPS_ORDER)
        print(f"{size // MiB} MiB, Circle Core throughput / rclone throughput: {ratios}")
    print("peak RSS: each tool's whole process (rclone under /usr/bin/time -v); growth: Circle Core during the copy")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")


HOPS_ORDER = {f"{src}->{dst}": i for i, (src, dst) in enumerate(HOPS)}


def ratio(best: dict[tuple[int, str, str], Run], size: int, hop: str) -> float:
    """Circle Core's throughput over rclone's for one size and hop (above 1: Circle Core is faster)."""
    return best[(size, hop, "rclone")].seconds / best[(size, hop, "circle")].seconds


if __name__ == "__main__":
    main()
