"""``circle --help``: wall and CPU time of fresh processes of the console script (issue 11 asks for
under 300 ms). The launcher is the file pip writes for ``[project.scripts] circle``; ``python -c pass``
is measured alongside it as the interpreter's own floor, in alternation, so machine load hits both.

    python -m bench.bench_cli_help            # RUNS=15 by default
    python -m bench.bench_cli_help --runs 31

CPU is user + system time of the child (``os.wait4``), which a busy machine inflates far less than
wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _launcher(folder: Path) -> Path:
    path = folder / "circle"
    path.write_text(f"#!{sys.executable}\nimport sys\nfrom circle_cli.main import main\nsys.exit(main())\n")
    path.chmod(0o755)
    return path


def _once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "15")))
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "circle --help": [str(_launcher(Path(tmp))), "--help"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        for cmd in commands.values():  # warm the page cache and the bytecode already on disk
            _once(cmd, env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(_once(cmd, env))
    print(f"{args.runs} fresh processes each, in alternation; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':16} {'wall median':>12} {'wall min':>9} {'CPU median':>11} {'CPU min':>8}")
    for name, xs in samples.items():
        walls, cpus = [w for w, _ in xs], [c for _, c in xs]
        print(
            f"{name:16} {statistics.median(walls):9.0f} ms {min(walls):6.0f} ms "
            f"{statistics.median(cpus):8.0f} ms {min(cpus):5.0f} ms"
        )


if __name__ == "__main__":
    main()
