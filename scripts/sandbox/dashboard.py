"""A small rich dashboard for a terminal: the counters of ``Stats`` as a live table at the bottom of the
screen, with the progress lines scrolling above it. Off when stdout is not a TTY (pipes, CI, the tests
of ``make run`` get the plain lines) or with ``--plain``."""

from __future__ import annotations

import statistics
from typing import Any

from scripts.sandbox.view import CLOUDS, Stats


def table(stats: Stats) -> Any:
    from rich.table import Table

    with stats.lock:
        done = sum(1 for e in stats.expectations if e.seen_at is not None)
        total = len(stats.expectations)
        rows = [
            (
                cloud,
                stats.deliveries[cloud],
                stats.failed_deliveries[cloud],
                stats.actions[cloud]["copied"],
                stats.actions[cloud]["deleted"],
                stats.actions[cloud]["skipped"],
                stats.actions[cloud]["failed"],
            )
            for cloud in CLOUDS
        ]
        failures = len(stats.failures)
    lags = stats.lags()
    lag = f"lag median {statistics.median(lags):.1f}s, max {max(lags):.1f}s" if lags else "lag -"
    title = f"replicas {done}/{total} | {lag} | failures {failures} | {stats.probe_text()}"
    grid = Table(title=title, expand=False)
    for name in ("function", "delivered", "not acked", "copied", "deleted", "skipped", "failed"):
        grid.add_column(name, justify="right" if name != "function" else "left")
    for row in rows:
        grid.add_row(*(str(v) for v in row))
    return grid


class Dashboard:
    """``rich.live.Live`` over ``stats``; ``stats.say`` prints above it while it runs."""

    def __init__(self, stats: Stats, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.stats = stats
        self.console = console or Console()
        self.live = Live(get_renderable=lambda: table(stats), console=self.console, refresh_per_second=4)

    def __enter__(self) -> Dashboard:
        self.live.start()
        self.stats.printer = self.console.print
        return self

    def __exit__(self, *exc: object) -> None:
        self.stats.printer = None
        self.live.stop()
