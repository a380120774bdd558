"""The backfill command's budget: one at or below the reserve a pass keeps (``RESERVE_SECONDS``) is
refused before anything runs (it used to loop forever, writing a checkpoint each pass), and a pass that
makes no progress stops the command with exit status 2 instead of repeating; rules are finished one by
one, so one rule's next pass never restarts another that finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.handlers import jobs, reconcile
from core.storage import open_store


def _config(tmp_path: Path, keys: int = 5) -> Path:
    src, dst, other = tmp_path / "src", tmp_path / "dst", tmp_path / "other"
    store = open_store(f"file://{src}")
    for i in range(keys):
        store.put(f"k{i}.txt", f"v{i}".encode())
    path = tmp_path / "circle.toml"
    path.write_text(
        f'[stores.src]\nurl = "file://{src}"\n[stores.dst]\nurl = "file://{dst}"\n'
        f'[stores.other]\nurl = "file://{other}"\n'
        '[[replication]]\nname = "one"\nsource = "src"\ntargets = ["dst"]\n'
        '[[replication]]\nname = "two"\nsource = "src"\ntargets = ["other"]\n'
    )
    return path


def _report(out: str) -> dict[str, object]:
    """The command's printed totals (indented JSON), among any log lines another test's handler writes."""
    start = out.index('{\n  "job": "reconcile"')
    report, _ = json.JSONDecoder().raw_decode(out[start:])
    assert isinstance(report, dict)
    return report


@pytest.mark.parametrize("budget", ["3", "1", "0", "-5"])
def test_a_budget_within_the_reserve_is_refused(
    budget: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))  # main() sets it; monkeypatch restores it
    with pytest.raises(SystemExit) as exit_:
        jobs.main(["reconcile", "--budget", budget, "--config", str(config)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"--budget {float(budget):g} leaves no time for any key" in err and "more than 3" in err
    assert not (tmp_path / "dst").exists() or not any((tmp_path / "dst").rglob("*.txt"))  # nothing ran


def test_a_pass_without_progress_stops_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    passes: list[int] = []

    def never(deadline: object, reserve: float) -> bool:  # as if listing ate the whole budget every pass
        passes.append(1)
        return False

    monkeypatch.setattr(reconcile, "time_left", never)
    code = jobs.main(["reconcile", "--budget", "4", "--config", str(config)])
    captured = capsys.readouterr()
    assert code == 2 and len(passes) == 2  # the second pass ended where the first did: stop
    assert "made no progress" in captured.err and "raise --budget" in captured.err
    assert _report(captured.out)["complete"] is False


def test_rules_finish_one_by_one_in_short_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, keys=5)
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    allowed = {"keys": 0}

    def two_keys_per_pass(deadline: object, reserve: float) -> bool:
        allowed["keys"] += 1
        return allowed["keys"] % 3 != 0  # two keys, then "no time": each pass does two keys

    monkeypatch.setattr(reconcile, "time_left", two_keys_per_pass)
    assert jobs.main(["reconcile", "--budget", "10", "--config", str(config)]) == 0
    totals = _report(capsys.readouterr().out)
    assert (totals["scanned"], totals["copied"], totals["failed"]) == (10, 10, 0)  # 5 keys x 2 rules, once each
    for target in ("dst", "other"):
        assert sorted(p.name for p in (tmp_path / target).glob("*.txt")) == [f"k{i}.txt" for i in range(5)]
