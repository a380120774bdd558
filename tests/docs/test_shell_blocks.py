"""The ```sh blocks of docs/cli.md and docs/local-invocation.md run here, as a reader would type them.

Each marked block (``<!-- executed by tests/docs: sh [scenario] -->``, see tests/docs/shell_blocks.py)
runs line by line in bash (``-o pipefail``), in a fresh temporary folder holding the ``circle.toml`` and
the sample objects of its scenario, with the ``circle`` console script on ``PATH`` and the SDKs pointed
at the session's emulators. Every command must exit 0 (or the code in ``EXIT``), and a transcript's
documented output lines must appear in what the command printed (after ``normalise``: latencies,
timestamps, generation numbers and temp paths differ per run). A block that cannot run here stays
unmarked and is listed in ``NOT_RUN`` with the reason; an unmarked block not listed fails.

The ```toml blocks of the docs are parsed with tomllib, and those that are a whole configuration are
validated with ``core.config.parse_config``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from core.storage import open_store
from scripts.emulators import free_port
from tests.cli.conftest import launcher
from tests.docs import shell_blocks
from tests.docs.code_blocks import ROOT, pages
from tests.docs.shell_blocks import ShBlock

PAGES = ("docs/cli.md", "docs/local-invocation.md")
BLOCKS = shell_blocks.all_blocks(PAGES)
RUN = [b for b in BLOCKS if b.scenario is not None]

#: (page, first command) -> why the block is not executed here
NOT_RUN = {
    ("docs/cli.md", "pip install 'circle-core[cli]'"): "installs packages into the environment",
    ("docs/cli.md", "circle --config circle.toml emulators"): (
        "runs until a signal; tests/cli/test_emulators.py starts it, reads the export lines and stops it"
    ),
    ("docs/cli.md", "circle serve --port 8080"): (
        "serves until a signal; tests/cli/test_ops.py::test_serve starts it, calls it and stops it"
    ),
}

#: command (without its comment) -> the exit code the docs give it
EXIT = {
    "circle check primary:data/ backup:data/": 1,  # differences found
    "circle --config circle.toml doctor": 1,  # the "down" store does not answer
    "circle --json stat backup:no/such.key": 1,  # the error, as JSON
}


def normalise(line: str) -> str:
    line = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)?", "<time>", line)
    line = re.sub(r"\(\d+(\.\d+)? ?ms\)", "(<ms>)", line)
    line = re.sub(r"^(config:)\s+\S+", r"\1 <path>", line)
    line = re.sub(r"^(etag|version):\s+\S+", r"\1: <varies>", line)
    line = re.sub(r"(TransientError): .*", r"\1: <cause>", line)
    line = re.sub(r"file:///\S*?/backup/", "file://<folder>/backup/", line)
    return " ".join(line.split())


def test_the_pages_have_runnable_blocks() -> None:
    assert len(RUN) >= 12, [b.where for b in RUN]
    assert {b.page for b in RUN} == set(PAGES)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_every_sh_block_is_executed_or_says_why_not(block: ShBlock) -> None:
    if block.scenario is None:
        assert (block.page, block.first) in NOT_RUN, (
            f"{block.where}: mark it `<!-- executed by tests/docs: sh -->` or add it to NOT_RUN with the reason"
        )
    else:
        assert block.scenario in SCENARIOS, f"{block.where}: unknown scenario {block.scenario!r}"
        assert (block.page, block.first) not in NOT_RUN, f"{block.where} is marked and listed in NOT_RUN"


def test_the_exit_code_table_names_documented_commands() -> None:
    documented = {c.bare for b in RUN for c in b.commands}
    assert set(EXIT) <= documented, set(EXIT) - documented


# -- scenarios: what a block's folder holds before it runs ---------------------------------------------------
_SEEDED: set[int] = set()


def _cli_clouds(emulators: Any) -> None:
    """The emulated buckets of the ``cli`` scenario, seeded once per session: no block changes what another
    block reads there (the stores blocks write to, such as ``backup``, are folders made per block)."""
    if id(emulators) in _SEEDED:
        return
    for bucket in ("incoming", "mybucket", "xxx"):
        emulators.create_bucket("s3", bucket)
    for bucket in ("bucket", "archive", "replica", "sample-bucket"):
        emulators.create_bucket("gs", bucket)
    for container in ("replica", "test-container"):
        emulators.create_bucket("az", container)
    conn = emulators.azure_connection_string
    incoming = open_store("s3://incoming")
    incoming.put("logs/2026/01.log", b"log line\n")
    incoming.put("data/report.csv", b"x,y\n" * 50)
    open_store("gs://bucket").put("out/report.csv", REPORT, content_type="text/csv")
    open_store("s3://mybucket").put("HappyFace.jpg", b"a happy face", content_type="image/jpeg")
    open_store("s3://xxx").put("test.pdf", b"%PDF-1.4 sample")
    open_store("gs://sample-bucket").put("folder/Test.cs", b"class Test {}")
    open_store("az://test-container", connection_string=conn).put("new-file.txt", b"blob!")
    _SEEDED.add(id(emulators))


def _cli(tmp: Path, emulators: Any) -> None:
    """Named stores on folders and the three emulators, the samples' buckets for `invoke`, sample objects."""
    _cli_clouds(emulators)
    conn = emulators.azure_connection_string
    (tmp / "circle.toml").write_text(f"""
[stores.primary]
url = "file://{tmp}/stores/primary"
[stores.backup]
url = "file://{tmp}/stores/backup"
[stores.archive]
url = "file://{tmp}/stores/archive"
[stores.web]
url = "file://{tmp}/stores/web"
[stores.gcp]
url = "gs://bucket"
[stores.aws]
url = "s3://incoming"
[stores.azure]
url = "az://replica"
connection_string = "{conn}"

# the buckets the samples in tests/events/data name (circle invoke)
[stores.s3-sample]
url = "s3://mybucket"
[stores.sqs-sample]
url = "s3://xxx"
[stores.gcs-sample]
url = "gs://sample-bucket"
[stores.azure-sample]
url = "az://test-container"
connection_string = "{conn}"
account = "my-storage-account"
[stores.replica]
url = "file://{tmp}/stores/replica"

[[replication]]
source = "s3-sample"
targets = ["replica"]
[[replication]]
source = "sqs-sample"
targets = ["replica"]
[[replication]]
source = "gcs-sample"
targets = ["replica"]
[[replication]]
source = "azure-sample"
targets = ["replica"]
""")
    primary, backup = open_store(f"file://{tmp}/stores/primary"), open_store(f"file://{tmp}/stores/backup")
    for key, body in (("data/a.csv", b"a,b\n1,2\n"), ("data/report.csv", b"x,y\n" * 50), ("inbox/a.csv", b"in\n")):
        primary.put(key, body)
    primary.put("data/k/000.txt", b"zero")
    primary.put("data/k/001.txt", b"one")
    for key, body in (("data/report.csv", b"x,y\n" * 50), ("data/a.csv", b"a,b\n1,2\n"), ("data/old.csv", b"old")):
        backup.put(key, body)
    backup.put("data/k/001.txt", b"one, changed")
    backup.put("data/k/zzz.txt", b"extra")
    backup.put("tmp/scratch.txt", b"scratch")
    (tmp / "report.csv").write_bytes(b"x,y\n" * 50)
    (tmp / "site").mkdir()
    (tmp / "site" / "index.html").write_bytes(b"<h1>hello</h1>\n")
    (tmp / "site" / "css").mkdir()
    (tmp / "site" / "css" / "site.css").write_bytes(b"h1 { color: teal }\n")


REPORT = b"id,value\n" + b"".join(b"%06d,%s\n" % (i, b"x" * 8) for i in range(500))[: 8000 - 9]


def _doctor(tmp: Path, emulators: Any) -> None:
    """doctor's transcript: a moto store, a degraded DigitalOcean-profile target, an unreachable store."""
    emulators.create_bucket("s3", "incoming")
    emulators.create_bucket("s3", "spaces")
    (tmp / "circle.toml").write_text(f"""
[secrets]
url = "aws-sm://eu-west-1"
[dead_letter]
store = "aws"
[stores.aws]
url = "s3://incoming"
[stores.spaces]
url = "s3://spaces"
profile = "digitalocean"
region = "us-east-1"
endpoint_url = "{emulators.s3_endpoint}"
access_key_id = "testing"
secret_access_key = "testing"
[stores.down]
url = "s3://nowhere"
endpoint_url = "http://127.0.0.1:{free_port()}"
retry = {{max_attempts = 2, initial_backoff = 0.01}}

[[replication]]
source = "aws"
targets = ["spaces"]
""")


def _rotate(tmp: Path, emulators: Any) -> None:
    """Two rotations on a JSON-file secrets store in the folder (the HMAC API-key rotator needs no cloud)."""
    from core.secrets import open_secrets

    secrets = open_secrets(f"file://{tmp}/secrets.json")
    entries = ""
    for name in ("circle/replication", "api-key"):
        secrets.put(name, {"kind": "hmac_api_key"})
        entries += f'[[rotation]]\nsecrets = "file://{tmp}/secrets.json"\nsecret = "{name}"\nrotator = "hmac_api_key"\n'
    (tmp / "circle.toml").write_text(entries)


def _repo(tmp: Path, emulators: Any) -> None:
    """Commands written for the repository root (docs/local-invocation.md)."""


SCENARIOS = {"cli": _cli, "doctor": _doctor, "rotate": _rotate, "repo": _repo}


@pytest.mark.parametrize("block", RUN, ids=[b.where for b in RUN])
def test_marked_blocks_run(block: ShBlock, tmp_path: Path, emulators: Any, emulator_env: dict[str, str]) -> None:
    assert block.scenario is not None
    work = tmp_path / "work"
    work.mkdir()
    SCENARIOS[block.scenario](work, emulators)
    (work / "tests" / "events").mkdir(parents=True)
    (work / "tests" / "events" / "data").symlink_to(ROOT / "tests" / "events" / "data")  # the samples' paths
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher(bin_dir)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CIRCLE_")},
        **emulator_env,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "CIRCLE_EXAMPLE_ENDPOINTS": f"{emulators.s3_endpoint} {emulators.azure_endpoint} {emulators.gcs_endpoint}",
    }
    cwd = ROOT if block.scenario == "repo" else work
    for command in block.commands:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.text],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        want = EXIT.get(command.bare, 0)
        assert done.returncode == want, (
            f"{block.where}: `{command.bare}` exited {done.returncode} (want {want})\n{done.stdout}\n{done.stderr}"
        )
        shown = done.stderr if command.bare.startswith("circle --json") and want else done.stdout  # a JSON error
        printed = {normalise(line) for line in shown.splitlines()}
        for line in command.output:
            assert normalise(line) in printed, f"{block.where}: `{command.bare}` did not print {line!r}:\n{done.stdout}"


# -- TOML blocks ------------------------------------------------------------------------------------------------
TOML = re.compile(r"^```toml\n(.*?)^```\n", re.S | re.M)
TOML_BLOCKS = [
    (f"{page.relative_to(ROOT)}:{page.read_text(encoding='utf-8').count(chr(10), 0, m.start()) + 1}", m.group(1))
    for page in pages()
    for m in TOML.finditer(page.read_text(encoding="utf-8"))
]
#: blocks that are whole configurations but need something this machine has not (the loader is run anyway
#: where it can be): none so far


@pytest.mark.parametrize(("where", "text"), TOML_BLOCKS, ids=[w for w, _ in TOML_BLOCKS])
def test_toml_blocks_parse_and_whole_configurations_validate(where: str, text: str) -> None:
    from core.config import parse_config

    document = tomllib.loads(text)
    if "stores" in document:  # a whole configuration (the others are one table of one)
        parse_config(document, environ={})


def test_the_docs_have_toml_blocks_and_some_are_whole_configurations() -> None:
    whole = [w for w, text in TOML_BLOCKS if "stores" in tomllib.loads(text)]
    assert len(TOML_BLOCKS) >= 10 and len(whole) >= 3, whole
