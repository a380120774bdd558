"""Cold start: import time of each adapter's entry module in a fresh process, against importing the
cloud SDK modules that adapter imports, alone. The difference is Circle Core's own overhead (core,
config, handler wiring); the budget is 30 ms.

    .venv/bin/python -m bench.bench_cold_start
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts import bundle

ADAPTERS = {
    "aws": (
        "aws_lambda.handlers",
        "aws_lambda_powertools, aws_lambda_powertools.metrics, aws_lambda_powertools.utilities.batch, "
        "aws_lambda_powertools.utilities.data_classes.sqs_event, aws_lambda_powertools.utilities.typing",
    ),
    "azure": ("azure_functions.app", "azure.functions"),
    "gcp": ("gcp_functions.main", "functions_framework, cloudevents.http"),
}
CORE = "core, core.storage, core.events, core.config, core.handlers.storage_events"
SNIPPET = "import time; t = time.perf_counter(); import {mods}; print(time.perf_counter() - t)"


def import_seconds(modules: str, runs: int, cwd: Path | None = None) -> float:
    """Median wall time of ``import modules`` in ``runs`` fresh interpreters started in ``cwd``."""
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET.format(mods=modules)], check=True, capture_output=True, text=True, cwd=cwd
        ).stdout
        times.append(float(out))
    return statistics.median(times)


def main(runs: int = 15) -> None:
    print(f"cold import in each built bundle (as deployed), median of {runs} fresh processes (ms)")
    print(f"{'adapter':<8} {'entry module':>13} {'its SDKs alone':>15} {'overhead':>9}")
    with tempfile.TemporaryDirectory() as out:
        for cloud, (entry, sdks) in ADAPTERS.items():
            root = bundle.build(cloud, Path(out), config=bundle.ROOT / "examples" / "circle.toml")
            full = import_seconds(entry, runs, root) * 1000
            base = import_seconds(sdks, runs, root) * 1000
            print(f"{cloud:<8} {full:>13.1f} {base:>15.1f} {full - base:>9.1f}")
        print(f"core alone ({CORE}): {import_seconds(CORE, runs, root) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
