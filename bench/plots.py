"""The figures of docs/benchmarks.md, drawn from the benchmarks' ``--json`` output (matplotlib, dev extra).

    .venv/bin/python -m bench.bench_copy --size-mib 16 64 256 --rounds 3 --json copy.json
    .venv/bin/python -m bench.bench_cold_start --json cold.json [--baseline PATH --baseline-json before.json]
    .venv/bin/python -m bench.plots --copy copy.json --cold cold.json [--cold-before before.json]

writes docs/img/copy_throughput.png and docs/img/cold_start.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
MiB = 1024 * 1024
HOPS = ("s3->az", "az->gs", "gs->s3")
LABEL = {"circle": "Circle Core", "rclone": "rclone"}
ADAPTERS = ("aws", "azure", "gcp")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def copy_throughput(runs: list[dict[str, Any]], out: Path) -> Path:
    """MiB/s (best run) by object size, one panel per hop, one line per tool."""
    plt = _pyplot()
    best: dict[tuple[str, str, int], float] = {}
    for run in runs:
        k = (run["hop"], run["tool"], run["size"])
        best[k] = max(best.get(k, 0.0), run["size"] / MiB / run["seconds"])
    sizes = sorted({run["size"] for run in runs})
    fig, axes = plt.subplots(1, len(HOPS), figsize=(11, 3.6), sharey=True)
    for ax, hop in zip(axes, HOPS, strict=True):
        for tool, marker in (("circle", "o"), ("rclone", "s")):
            ys = [best.get((hop, tool, s)) for s in sizes]
            ax.plot([s // MiB for s in sizes], ys, marker=marker, label=LABEL[tool])
        ax.set_xscale("log", base=2)
        ax.set_xticks([s // MiB for s in sizes], [str(s // MiB) for s in sizes])
        ax.set_title(hop.replace("->", " → "))
        ax.set_xlabel("object size (MiB)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("MiB/s (best of rounds)")
    axes[0].legend()
    fig.suptitle("Cross-cloud streaming copy on the emulators (moto, Azurite, fake-gcs-server)")
    fig.tight_layout()
    path = out / "copy_throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cold_start(after: dict[str, Any], before: dict[str, Any] | None, out: Path) -> Path:
    """Per adapter: the platform SDKs' import and Circle Core's share on top (before/after when given),
    with the 25 % budget marked; first answer as a dot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.6))
    rows: list[tuple[str, dict[str, float]]] = []
    for cloud in ADAPTERS:
        if before is not None:
            rows.append((f"{cloud} before", before[cloud]))
        rows.append((f"{cloud} after" if before is not None else cloud, after[cloud]))
    labels = [name for name, _ in rows]
    y = list(range(len(rows)))[::-1]
    sdks = [f["sdks_ms"] for _, f in rows]
    core = [max(0.0, f["core_ms"]) for _, f in rows]
    ax.barh(y, sdks, color="#b0b7c3", label="platform SDKs alone")
    ax.barh(y, core, left=sdks, color="#d9534f", label="Circle Core's share of the entry module")
    ax.scatter([f["first_answer_ms"] for _, f in rows], y, color="black", zorder=3, label="import + first answer")
    for yi, f in zip(y, (f for _, f in rows), strict=True):
        ax.plot([f["sdks_ms"] * 1.25] * 2, [yi - 0.4, yi + 0.4], color="#2c7fb8", lw=2)
        ax.text(f["sdks_ms"] + max(0.0, f["core_ms"]) + 2, yi, f"{max(0.0, f['share']):.0%}", va="center", fontsize=8)
    ax.plot([], [], color="#2c7fb8", lw=2, label="budget: SDKs + 25 %")
    ax.set_yticks(y, labels)
    ax.set_xlabel("CPU ms in a fresh process (median)")
    ax.set_title("Cold import per adapter, in its built bundle")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    path = out / "cold_start.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copy", type=Path, help="bench_copy --json output")
    parser.add_argument("--cold", type=Path, help="bench_cold_start --json output")
    parser.add_argument("--cold-before", type=Path, help="a baseline bench_cold_start --json output")
    parser.add_argument("--out", type=Path, default=IMG)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.copy:
        print(copy_throughput(json.loads(args.copy.read_text()), args.out))
    if args.cold:
        before = json.loads(args.cold_before.read_text()) if args.cold_before else None
        print(cold_start(json.loads(args.cold.read_text()), before, args.out))


if __name__ == "__main__":
    main()
