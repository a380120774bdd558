"""ls, cat, cp, mv, rm, stat, presign across the three emulated clouds, files and store names; progress
bars; retry WARNING lines."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cli.conftest import circle, run_script, write_config


@pytest.fixture
def clouds(emulator_env: dict[str, str], emulators: Any, tmp_path: Path) -> dict[str, Any]:
    """One fresh bucket per cloud on the emulators, named stores for them, and a file store."""
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    for scheme in ("s3", "az", "gs"):
        emulators.create_bucket(scheme, bucket)
    config = write_config(
        tmp_path / "circle.toml",
        f"""
[stores.aws]
url = "s3://{bucket}"
[stores.azure]
url = "az://{bucket}/pre"
[stores.gcp]
url = "gs://{bucket}"
[stores.local]
url = "file://{tmp_path}/local"
""",
    )
    return {"bucket": bucket, "config": str(config), "tmp": tmp_path}


def c(clouds: dict[str, Any], *args: str, **kw: Any) -> Any:
    return circle("--config", clouds["config"], *args, **kw)


def test_ls_without_location_lists_the_configured_stores(clouds: dict[str, Any]) -> None:
    run = c(clouds, "--json", "ls")
    assert run.code == 0
    assert [(r["name"], r["provider"]) for r in json.loads(run.stdout)] == [
        ("aws", "aws"),
        ("azure", "azure"),
        ("gcp", "gcp"),
        ("local", "file"),
    ]
    table = c(clouds, "ls")
    assert table.stdout.splitlines()[0].split()[:3] == ["store", "url", "provider"]


def test_a_file_travels_through_all_three_clouds_and_back(clouds: dict[str, Any]) -> None:
    tmp = clouds["tmp"]
    source = tmp / "report.csv"
    source.write_bytes(b"a,b\n1,2\n" * 1000)
    assert c(clouds, "cp", str(source), "aws:in/").code == 0
    assert c(clouds, "cp", "aws:in/report.csv", "azure:mid/report.csv").code == 0
    assert c(clouds, "cp", "azure:mid/report.csv", f"gs://{clouds['bucket']}/out/report.csv").code == 0
    assert c(clouds, "cp", "gcp:out/report.csv", str(tmp / "back") + "/").code == 0
    assert (tmp / "back" / "report.csv").read_bytes() == source.read_bytes()
    stat = json.loads(c(clouds, "--json", "stat", "gcp:out/report.csv").stdout)
    assert stat["size"] == 8000 and stat["content_type"] == "text/csv"
    assert c(clouds, "cat", f"az://{clouds['bucket']}/pre/mid/report.csv").stdout == source.read_text()


def test_ls_levels_recursion_and_json(clouds: dict[str, Any]) -> None:
    for key in ("d/a.txt", "d/sub/b.txt", "top.txt"):
        path = clouds["tmp"] / "x.txt"
        path.write_text(key)
        assert c(clouds, "cp", str(path), f"gcp:{key}").code == 0
    assert c(clouds, "ls", "gcp:").stdout.split() == ["d/", "top.txt"]
    assert c(clouds, "ls", "gcp:d/").stdout.split() == ["d/sub/", "d/a.txt"]
    assert c(clouds, "ls", "-r", "gcp:d/").stdout.split() == ["d/a.txt", "d/sub/b.txt"]
    long_ = c(clouds, "ls", "-rl", "gcp:").stdout.splitlines()
    assert long_[0].split()[0] == "7" and long_[0].endswith("d/a.txt")
    rows = json.loads(c(clouds, "--json", "ls", "gcp:d/").stdout)
    assert rows[0] == {"prefix": "d/sub/"} and rows[1]["key"] == "d/a.txt" and rows[1]["size"] == 7


def test_cp_recursive_mv_and_rm(clouds: dict[str, Any]) -> None:
    src = clouds["tmp"] / "tree"
    (src / "x").mkdir(parents=True)
    (src / "one.txt").write_text("1")
    (src / "x" / "two.txt").write_text("22")
    assert c(clouds, "cp", "-r", str(src), "aws:tree/").code == 0
    assert c(clouds, "cp", "-r", "aws:tree/", "azure:copy/").code == 0
    assert c(clouds, "ls", "-r", "azure:copy/").stdout.split() == ["copy/one.txt", "copy/x/two.txt"]
    moved = json.loads(c(clouds, "--json", "mv", "azure:copy/one.txt", "gcp:moved.txt").stdout)
    assert moved["moved"][0][1].endswith("/moved.txt")
    assert c(clouds, "ls", "-r", "azure:copy/").stdout.split() == ["copy/x/two.txt"]
    assert c(clouds, "cat", "gcp:moved.txt").stdout == "1"
    missing = c(clouds, "rm", "gcp:nothing-here")
    assert missing.code == 1 and missing.err_lines == ["circle: error: gcp:nothing-here: no such object"]
    assert c(clouds, "rm", "-f", "gcp:nothing-here").code == 0
    dry = c(clouds, "rm", "-r", "--dry-run", "aws:tree/")
    assert dry.code == 0 and dry.stdout.count("would delete") == 2
    assert c(clouds, "rm", "-r", "aws:tree/").stdout.count("deleted") == 2
    assert c(clouds, "ls", "-r", "aws:tree/").stdout == ""
    prefix = c(clouds, "rm", "aws:tree/")
    assert prefix.code == 2 and "use -r" in prefix.stderr


def test_presign_gives_a_working_url(clouds: dict[str, Any]) -> None:
    path = clouds["tmp"] / "p.txt"
    path.write_text("presigned")
    assert c(clouds, "cp", str(path), "aws:p.txt").code == 0
    url = c(clouds, "presign", "aws:p.txt", "--expires", "60").stdout.strip()
    assert requests.get(url, timeout=10).text == "presigned"
    put = json.loads(c(clouds, "--json", "presign", "aws:up.txt", "--method", "PUT").stdout)
    assert requests.put(put["url"], data=b"uploaded", timeout=10).status_code == 200
    assert c(clouds, "cat", "aws:up.txt").stdout == "uploaded"
    unsupported = c(clouds, "presign", "local:p.txt")
    assert unsupported.code == 1 and unsupported.err_lines[0].startswith("circle: error: Unsupported")


def test_location_mistakes_are_usage_errors(clouds: dict[str, Any]) -> None:
    unknown = c(clouds, "ls", "nope:x/")
    assert unknown.code == 2
    assert unknown.err_lines == [
        "circle: error: nope:x/: no store named 'nope' in the configuration (stores: aws, azure, gcp, local)"
    ]
    assert c(clouds, "stat", "gcp:dir/").code == 2
    assert c(clouds, "ls", "s3://").code == 2
    both_local = c(clouds, "cp", str(clouds["config"]), str(clouds["tmp"] / "copy.toml"))
    assert both_local.code == 2 and "both locations are local" in both_local.stderr


def test_progress_bar_shows_bytes_rate_and_eta_on_a_terminal(clouds: dict[str, Any]) -> None:
    big = clouds["tmp"] / "big.bin"
    big.write_bytes(b"\0" * (3 * 1024 * 1024 + 5))
    shown = c(clouds, "cp", str(big), "aws:big.bin", env={"CIRCLE_PROGRESS": "always"})
    assert shown.code == 0
    assert "big.bin" in shown.stderr and "3.1/3.1 MB" in shown.stderr and "/s" in shown.stderr
    assert "0:00:00" in shown.stderr  # the ETA column
    downloaded = c(clouds, "cp", "aws:big.bin", "gcp:big.bin", env={"CIRCLE_PROGRESS": "always"})
    assert "3.1/3.1 MB" in downloaded.stderr and "0:00:00" in downloaded.stderr
    quiet = c(clouds, "cp", str(big), "aws:big2.bin")  # not a terminal: no bar
    assert quiet.code == 0 and quiet.stderr == ""


def test_retries_print_one_warning_line_each(tmp_path: Path, emulator_env: dict[str, str]) -> None:
    from scripts.emulators import free_port

    config = write_config(
        tmp_path / "circle.toml",
        f"""
[stores.down]
url = "s3://nowhere"
endpoint_url = "http://127.0.0.1:{free_port()}"
retry = {{max_attempts = 3, initial_backoff = 0.01}}
""",
    )
    run = run_script(tmp_path, ["--config", str(config), "ls", "down:"])
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 3, run.stderr
    for attempt, line in enumerate(lines[:2], start=1):
        assert line.startswith(
            "WARNING circle.storage.retry: retrying after a failed attempt "
            f"operation=list attempt={attempt} max_attempts=3 error=TransientError reason="
        ), line
    assert lines[2].startswith("circle: error: TransientError")
    assert "Traceback" not in run.stderr
    quiet = run_script(tmp_path, ["--config", str(config), "-q", "ls", "down:"])
    assert quiet.returncode == 1 and "WARNING" not in quiet.stderr
