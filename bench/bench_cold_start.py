"""Cold start, per adapter, inside its built bundle (``scripts.bundle.build`` with examples/circle.toml):

Figures are CPU time (user + system) of the process doing it, median of ``--runs`` processes: on a
shared 2-core machine wall time mostly measures the neighbours. Bundles are what scripts/bundle.py
builds (sources plus their 3.13 bytecode) and no run writes bytecode, as on Lambda's read-only file
system; ``--source-only`` removes the shipped bytecode first, to show what compiling every core module
in each cold process costs.

- **import**: the adapter's entry module, against the platform SDK modules that adapter imports,
  alone, each in a fresh interpreter started in the bundle. Circle Core's share is
  ``(entry - SDKs) / SDKs``; the budget is 25 % on each cloud (issue 8). The two are measured
  alternately (entry, SDKs, entry, ...) so that a noisy neighbour hits both alike.
- **first answer**: import plus one cold invocation in the same fresh process: the adapter's runtime
  built from the configuration (examples/circle.toml with every store turned into ``memory://NAME``),
  the cloud's recorded storage event parsed (then pointed at the memory source store), its source
  object written and the event replicated to the rule's targets (memory to memory, so no network is
  timed). This is what a user waits for on a cold
  container, minus the platform's own start-up and the storage SDK a real store loads.

    .venv/bin/python -m bench.bench_cold_start [--runs 21] [--json PATH]
    # before/after in one run: another tree measured alongside, sample by sample
    git archive main | tar -x -C /tmp/main && .venv/bin/python -m bench.bench_cold_start \\
        --baseline /tmp/main --baseline-json before.json --json after.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts import bundle

# entry module -> exactly the platform SDK modules it (and its own package) imports
ADAPTERS = {
    "aws": (
        "aws_lambda.handlers",
        "aws_lambda_powertools, aws_lambda_powertools.metrics, aws_lambda_powertools.utilities.typing, "
        "aws_lambda_powertools.logging.utils",
    ),
    "azure": ("azure_functions.app", "azure.functions"),
    "gcp": ("gcp_functions.main", "functions_framework, cloudevents.http, werkzeug.exceptions"),
}
CORE = "core, core.storage, core.events, core.config, core.handlers.storage_events, core.runtime"
# CPU seconds (user + system) of the importing process: on a shared machine, wall time mostly measures
# the neighbours; what the import itself costs is its CPU time (files come from the page cache).
SNIPPET = "import time; t = time.process_time(); import {mods}; print(time.process_time() - t)"
DATA = bundle.ROOT / "tests" / "events" / "data"
EXAMPLE = bundle.ROOT / "examples" / "circle.toml"

# One recorded storage event per cloud, renamed into the example configuration's source buckets.
_GCS_OBJECT = "cloudevents_binary_storage_StorageObjectData-simple.json"


def _payload(cloud: str) -> dict[str, object]:
    """The cloud's recorded "object created" event, as its adapter hands it to the core, naming key
    ``data/cold.bin`` in the example configuration's bucket for that cloud."""
    if cloud == "aws":
        doc = json.loads((DATA / "awsdocs_s3_ObjectCreatedPut.json").read_text())
        s3 = doc["Records"][0]["s3"]
        s3["bucket"]["name"], s3["bucket"]["arn"] = "circle-example-incoming", "arn:aws:s3:::circle-example-incoming"
        s3["object"]["key"] = "data/cold.bin"
        return doc
    if cloud == "azure":
        doc = json.loads((DATA / "msdocs_eventgridschema_BlobCreated.json").read_text())
        event = doc[0] if isinstance(doc, list) else doc
        account = event["topic"].rsplit("/", 1)[-1]
        event["subject"] = "/blobServices/default/containers/circle-example-replica/blobs/uploads/cold.bin"
        event["data"]["url"] = f"https://{account}.blob.core.windows.net/circle-example-replica/uploads/cold.bin"
        return event
    data = json.loads((DATA / _GCS_OBJECT).read_text())
    data.update(bucket="circle-example-replica", name="uploads/cold.bin")
    return {  # structured mode, what gcp_functions.main.cloud_event_dict gives the core
        "specversion": "1.0",
        "type": "google.cloud.storage.object.v1.finalized",
        "source": "//storage.googleapis.com/projects/_/buckets/circle-example-replica",
        "subject": "objects/uploads/cold.bin",
        "id": "1",
        "time": "2026-12-02T12:00:00Z",
        "data": data,
    }


# Runs in the bundle: import the entry module, build its runtime, replicate the recorded event.
FIRST_ANSWER = """\
import time
t0 = time.process_time()
import {entry} as adapter
t1 = time.process_time()
import dataclasses, json, sys
from core.events import parse_events
circle = adapter.runtime()
events = [
    dataclasses.replace(e, provider="memory", bucket=sys.argv[2]) for e in parse_events(json.loads(sys.argv[1]))
]
for e in events:
    circle.store(sys.argv[2]).put(e.key, b"cold start")
delivery = circle.handle_events(events, deadline=lambda: 300.0)
t2 = time.process_time()
actions = [o.action for r in delivery.results for o in r.outcomes]
assert delivery.status == "ok" and actions and all(a == "copied" for a in actions), (delivery, actions)
print(json.dumps([t1 - t0, t2 - t0]))
"""
SOURCE_STORE = {"aws": "incoming", "azure": "azure-replica", "gcp": "gcs-replica"}


def memory_config(out: Path) -> Path:
    """examples/circle.toml with every store ``[stores.NAME]`` turned into ``memory://NAME``."""
    lines, name = [], ""
    for line in (bundle.ROOT / "examples" / "circle.toml").read_text().splitlines():
        if line.startswith("[stores."):
            name = line.strip()[len("[stores.") : -1]
        elif line.startswith("url = "):
            line = f'url = "memory://{name}"'
        lines.append(line)
    text = "\n".join(lines).split("# ---- production overlay")[0]  # the prod overlay names real clouds
    path = out / "circle-memory.toml"
    path.write_text(text + "\n")
    return path


# As deployed: Lambda's /var/task is read-only, so a bundle without bytecode compiles every module it
# imports at each cold start; no run may leave __pycache__ behind for the next one.
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def _run(code: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**(env if env is not None else os.environ), **NO_PYC}
    return subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, cwd=cwd, env=env
    ).stdout


def _import_ms(modules: str, cwd: Path) -> float:
    return float(_run(SNIPPET.format(mods=modules), cwd)) * 1000


def _first_answer_ms(cloud: str, cwd: Path, config: Path) -> tuple[float, float]:
    env = {**os.environ, "CIRCLE_CONFIG": str(config), "CIRCLE_LOG_LEVEL": "WARNING"}
    env.pop("CIRCLE_ENV", None)
    code = FIRST_ANSWER.format(entry=ADAPTERS[cloud][0])
    out = _run(code, cwd, json.dumps(_payload(cloud)), SOURCE_STORE[cloud], env=env).splitlines()[-1]
    imported, answered = json.loads(out)
    return imported * 1000, answered * 1000


def measure(runs: int, trees: dict[str, Path], *, source_only: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """Figures per tree (label -> source root) and adapter. Every sample of every tree is taken in turn
    (entry, SDKs, first answer; tree after tree), so a busy moment hits all of them alike."""
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = memory_config(out)
        bundles = {
            (label, cloud): bundle.build(cloud, out / label, config=EXAMPLE, root=root)
            for label, root in trees.items()
            for cloud in ADAPTERS
        }
        if source_only:  # what a bundle without its bytecode costs: every module compiled per cold process
            for root in bundles.values():
                for cache in list(root.rglob("__pycache__")):
                    shutil.rmtree(cache)
        for _ in range(runs):
            for (label, cloud), root in bundles.items():
                entry, sdks = ADAPTERS[cloud]
                got = samples.setdefault((label, cloud), {"entry": [], "sdks": [], "imported": [], "answered": []})
                got["entry"].append(_import_ms(entry, root))
                got["sdks"].append(_import_ms(sdks, root))
                imported, answered = _first_answer_ms(cloud, root, config)
                got["imported"].append(imported)
                got["answered"].append(answered)
            for label in trees:
                samples.setdefault((label, "core"), {"import": []})["import"].append(
                    _import_ms(CORE, bundles[(label, "aws")])
                )
    figures: dict[str, dict[str, dict[str, float]]] = {label: {} for label in trees}
    for (label, cloud), got in samples.items():
        med = {name: statistics.median(values) for name, values in got.items()}
        if cloud == "core":
            figures[label]["core"] = {"import_ms": med["import"]}
            continue
        figures[label][cloud] = {
            "entry_ms": med["entry"],
            "sdks_ms": med["sdks"],
            "core_ms": med["entry"] - med["sdks"],
            "share": (med["entry"] - med["sdks"]) / med["sdks"],
            "first_import_ms": med["imported"],
            "first_answer_ms": med["answered"],
        }
    return figures


def report(figures: dict[str, dict[str, float]], runs: int, label: str = "") -> None:
    print(f"cold start in each built bundle{label}, CPU ms, median of {runs} fresh processes")
    print(f"{'adapter':<7} {'entry':>7} {'SDKs':>7} {'core':>7} {'share':>6} {'import':>7} {'+1st answer':>12}")
    for cloud in ADAPTERS:
        f = figures[cloud]
        print(
            f"{cloud:<7} {f['entry_ms']:>7.1f} {f['sdks_ms']:>7.1f} {f['core_ms']:>7.1f} {f['share']:>6.0%} "
            f"{f['first_import_ms']:>7.1f} {f['first_answer_ms']:>12.1f}"
        )
    print(f"core alone ({CORE}): {figures['core']['import_ms']:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", type=Path, help="also write the figures here (bench/plots.py reads them)")
    parser.add_argument(
        "--baseline", type=Path, help="another source tree (e.g. `git archive main`) measured alongside"
    )
    parser.add_argument("--baseline-json", type=Path, help="write the baseline's figures here")
    parser.add_argument("--source-only", action="store_true", help="remove the shipped bytecode first")
    args = parser.parse_args(argv)
    trees = {"current": bundle.ROOT}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), **trees}
    figures = measure(args.runs, trees, source_only=args.source_only)
    for label in trees:
        report(figures[label], args.runs, f" ({label}: {trees[label]})" if args.baseline else "")
    if args.json:
        args.json.write_text(json.dumps(figures["current"], indent=2) + "\n")
    if args.baseline_json and args.baseline:
        args.baseline_json.write_text(json.dumps(figures["baseline"], indent=2) + "\n")


if __name__ == "__main__":
    main()
