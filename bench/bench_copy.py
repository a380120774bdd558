"""Cross-cloud streaming copy of one large object, moto -> Azurite -> fake-gcs-server, by Circle Core
and by rclone on the same emulators in the same run. Prints throughput, peak RSS growth and ratios.

    make bench            # or: .venv/bin/python -m bench.bench_copy --size-mib 256

Needs the Debian package ``rclone`` (``make bench`` installs it when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scripts import emulators

MiB = 1024 * 1024


@dataclass
class Run:
    tool: str
    hop: str
    seconds: float
    peak_rss_growth_mib: float | None

    def throughput(self, size: int) -> float:
        return size / MiB / self.seconds


def _stores(emu: emulators.Emulators, name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {scheme: (f"{scheme}://{name}", options) for scheme, options in emu.store_options().items()}


def _seed(emu: emulators.Emulators, name: str, key: str, size: int) -> None:
    """Create the buckets and upload ``size`` random bytes to S3 (setup, not measured)."""
    from core.storage import open_store

    emu.create_buckets(name)

    def random_parts() -> Iterator[bytes]:
        for offset in range(0, size, 8 * MiB):
            yield os.urandom(min(8 * MiB, size - offset))

    open_store(f"s3://{name}", **emu.store_options()["s3"]).put(key, random_parts())


def _circle(stores: dict[str, tuple[str, dict[str, Any]]], src: str, dst: str, key: str, dst_key: str) -> Run:
    job = {
        "src_url": stores[src][0],
        "src_options": stores[src][1],
        "dst_url": stores[dst][0],
        "dst_options": stores[dst][1],
        "key": key,
        "dst_key": dst_key,
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench.copy_worker", json.dumps(job)], check=True, capture_output=True, text=True
    ).stdout
    res = json.loads(out)
    growth = (res["rss_peak_kib"] - res["rss_before_kib"]) / 1024
    return Run("circle", f"{src}->{dst}", res["seconds"], growth)


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


def _rclone(emu: emulators.Emulators, name: str, src: str, dst: str, key: str, dst_key: str) -> Run:
    import time

    cmd = ["rclone", "copyto", f"{src}:{name}/{key}", f"{dst}:{name}/{dst_key}", "--s3-no-head", "--retries", "1", "-q"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_rclone_env(emu))
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"rclone failed ({status}): {' '.join(cmd)}")
    return Run("rclone", f"{src}->{dst}", seconds, usage.ru_maxrss / 1024)  # whole-process peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.size_mib * MiB
    if shutil.which("rclone") is None:
        sys.exit("rclone is not installed (apt-get install rclone)")
    with emulators.running() as emu:
        name, key = f"bench-{uuid.uuid4().hex[:8]}", "big.bin"
        _seed(emu, name, key, size)
        stores = _stores(emu, name)
        from core.storage import copy_object, open_store  # the second hop reads the same bytes from Azure

        copy_object(
            open_store(stores["s3"][0], **stores["s3"][1]), key, open_store(stores["az"][0], **stores["az"][1]), key
        )
        runs: list[Run] = []
        for n in range(args.rounds):  # a fresh destination key every time: rclone skips up-to-date copies
            for src, dst in (("s3", "az"), ("az", "gs")):
                runs.append(_circle(stores, src, dst, key, f"{key}-circle-{n}"))
                runs.append(_rclone(emu, name, src, dst, key, f"{key}-rclone-{n}"))
    print(f"cross-cloud copy of {args.size_mib} MiB (best of {args.rounds} rounds)")
    print(f"{'hop':<8} {'tool':<7} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13}")
    best: dict[tuple[str, str], Run] = {}
    for run in runs:
        k = (run.hop, run.tool)
        if k not in best or run.seconds < best[k].seconds:
            best[k] = run
    for (hop, tool), run in sorted(best.items()):
        rss = f"{run.peak_rss_growth_mib:.1f}" if run.peak_rss_growth_mib is not None else "-"
        print(f"{hop:<8} {tool:<7} {run.seconds:>8.2f} {run.throughput(size):>8.1f} {rss:>13}")
    for hop in ("s3->az", "az->gs"):
        ratio = best[(hop, "rclone")].seconds / best[(hop, "circle")].seconds
        print(f"{hop}: circle throughput / rclone throughput = {ratio:.2f}")
    print("circle's RSS column is growth during the copy; rclone's is its whole-process peak")


if __name__ == "__main__":
    main()
