"""``python -m scripts.sandbox [--duration SECONDS] [--forever]`` (what ``make run`` runs)."""

from __future__ import annotations

import argparse
import sys

from scripts.sandbox.run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.sandbox", description=__doc__)
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="seconds the demo may take to converge before the run ends and reports what is missing (default 60)",
    )
    parser.add_argument(
        "--forever", action="store_true", help="keep everything running after the demo until Ctrl-C or SIGTERM"
    )
    parser.add_argument(
        "--plain", action="store_true", help="progress lines only, no live table (the default when not a terminal)"
    )
    args = parser.parse_args(argv)
    return run(duration=args.duration, forever=args.forever, dashboard=sys.stdout.isatty() and not args.plain)


if __name__ == "__main__":
    sys.exit(main())
