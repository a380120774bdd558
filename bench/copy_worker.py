"""One cross-store copy in a fresh process, reporting time and memory (VmRSS before, VmHWM after).

Run by bench_copy.py: ``python -m bench.copy_worker '<json job>'``.
"""

from __future__ import annotations

import json
import sys
import time

from core.storage import copy_object, open_store


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(job: dict[str, object]) -> dict[str, object]:
    src = open_store(str(job["src_url"]), **job["src_options"])  # type: ignore[arg-type]
    dst = open_store(str(job["dst_url"]), **job["dst_options"])  # type: ignore[arg-type]
    src.head(str(job["key"]))  # warm the connection pools and SDK imports before measuring
    dst.list_page(page_size=1)
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    info = copy_object(src, str(job["key"]), dst, str(job["dst_key"]))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": info.size, "rss_before_kib": rss_before, "rss_peak_kib": _status_kib("VmHWM")}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
