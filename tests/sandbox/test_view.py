"""The live view's bookkeeping: failures keep their reasons, and the summary says plainly when a
replica did not converge (the exit code follows it)."""

from __future__ import annotations

import io

from scripts.sandbox.view import Expectation, Stats


def _stats() -> tuple[Stats, io.StringIO]:
    out = io.StringIO()
    return Stats(out=out), out


def test_failures_are_printed_at_once_with_their_reasons() -> None:
    stats, out = _stats()
    stats.report("batch", cloud="aws", messages=3, failed=["m-2"], reason="")
    stats.report(
        "outcome",
        cloud="gcp",
        key="demo/x.txt",
        outcomes=[
            {"target": "aws", "action": "copied", "failure": None, "reason": "source etag 1"},
            {"target": "azure", "action": "failed", "failure": "retryable", "reason": "503 from Azurite"},
        ],
    )
    stats.report("watcher_error", cloud="azure", reason="ConnectionError: refused")
    text = out.getvalue()
    assert "FAILURE aws: 1 delivery(ies) not acknowledged: see the host's log" in text
    assert "FAILURE gcp: demo/x.txt -> azure: retryable: 503 from Azurite" in text
    assert "FAILURE azure event stand-in: ConnectionError: refused" in text
    assert stats.deliveries["aws"] == 3 and stats.failed_deliveries["aws"] == 1
    assert stats.actions["gcp"] == {"copied": 1, "failed": 1}
    summary, ok = stats.summary()
    assert not ok  # no expectation at all is not a success
    assert summary.count("failure: ") == 3


def test_summary_reports_missing_replicas_and_lag() -> None:
    stats, _ = _stats()
    done = Expectation("aws", "demo/a", "gcp", "from-aws/demo/a", b"a", "created", written_at=10.0, seen_at=11.5)
    missing = Expectation("aws", "demo/a", "azure", "from-aws/demo/a", b"a", "created", written_at=10.0)
    stats.expectations += [done, missing]
    summary, ok = stats.summary()
    assert not ok
    assert "azure:from-aws/demo/a MISSING" in summary and "gcp:from-aws/demo/a ok 1.5s" in summary
    assert "RESULT: 1 of 2 replicas did not converge" in summary
    missing.seen_at = 13.0
    summary, ok = stats.summary()
    assert ok and "RESULT: all 2 replicas converged" in summary
    assert "lag: median 2.25s, max 3.00s over 2 replicas" in summary


def test_the_dashboard_renders_the_counters_and_prints_lines_above_it() -> None:
    from rich.console import Console

    from scripts.sandbox.dashboard import Dashboard, table

    stats, out = _stats()
    stats.report("batch", cloud="azure", messages=2, failed=[])
    stats.report("outcome", cloud="azure", key="demo/a", outcomes=[{"target": "aws", "action": "copied"}])
    stats.expectations.append(Expectation("azure", "demo/a", "aws", "from-azure/demo/a", b"a", "created", 1.0, 2.0))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    console.print(table(stats))
    rendered = screen.getvalue()
    assert "replicas 1/1 | lag median 1.0s, max 1.0s | failures 0" in rendered
    assert [line.split("│")[1:3] for line in rendered.splitlines() if "azure" in line] == [
        [" azure    ", "         2 "]
    ]
    with Dashboard(stats, console=console):
        stats.say("replicated while the table is live")
    assert "replicated while the table is live" in screen.getvalue()
    assert out.getvalue() == ""  # lines went to the console, above the table


def test_outcomes_not_yet_reported_are_counted_per_source_cloud() -> None:
    """A replica is visible before its function's outcome line arrives: the summary waits on this."""
    stats, _ = _stats()
    for target in ("aws", "azure"):
        stats.expectations.append(Expectation("gcp", "k", target, "from-gcp/k", b"x", "created", 0.0, 1.0))
        stats.expectations.append(Expectation("gcp", "k", target, "from-gcp/k", None, "deleted", 2.0, 3.0))
    assert stats.unreported() == {"gcp": {"copied": 2, "deleted": 2}}
    outcome = {"target": "aws", "failure": None, "reason": ""}
    stats.report("outcome", cloud="gcp", key="k", outcomes=[{**outcome, "action": "copied"}] * 2)
    stats.report("outcome", cloud="gcp", key="k", outcomes=[{**outcome, "action": "skipped"}] * 2)
    assert stats.unreported() == {"gcp": {"deleted": 2}}  # an overwrite's "deleted" of the old generation: skipped
    stats.report("outcome", cloud="gcp", key="k", outcomes=[{**outcome, "action": "deleted"}] * 2)
    assert stats.unreported() == {}


def test_probe_results_are_shown_while_running_and_counted_in_the_live_view() -> None:
    from rich.console import Console

    from scripts.sandbox.dashboard import table

    stats, out = _stats()
    assert stats.probe_text() == "probe -"
    stats.probe("aws up (write 3 ms, read 1 ms, list 2 ms, delete 1 ms)", up=True)
    stats.probe("gcp down: write ConnectionError: refused (write 5 ms)", up=False)
    stats.probe('{"ok": false, "up": 1, "down": 1}')  # the report's totals: a line, not a count
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "probe: aws up (write 3 ms, read 1 ms, list 2 ms, delete 1 ms)",
        "probe: gcp down: write ConnectionError: refused (write 5 ms)",
        'probe: {"ok": false, "up": 1, "down": 1}',
    ]
    assert stats.probe_text() == "probe up 1 down 1"
    assert stats.progress().endswith("| probe up 1 down 1")
    console = Console(record=True, width=200)
    console.print(table(stats))
    assert "probe up 1 down 1" in console.export_text()
    summary, _ = stats.summary()
    assert "probe: gcp down: write ConnectionError: refused (write 5 ms)" in summary.splitlines()
